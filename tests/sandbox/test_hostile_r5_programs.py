"""Round 5 hostile programs not in the earlier batteries: each runs in one batch with innocent
programs queued behind it (on the fast path up to 4 wait in the same worker's socket), which must
all get their correct result; the hostile one gets the kind named here. They held on the code they
were written against; they stay as regression tests."""

import pytest

from trainer.sandbox import Sandbox

GRID = [[1, 2, 3], [4, 5, 6]]
FLIPPED = [[4, 5, 6], [1, 2, 3]]
INNOCENT = "def transform(g):\n    return np.flipud(g)\n"
# Refused by the verifier (files): forks, and needs a usable umask and its own temp dir as cwd.
WRITES_A_FILE = """
import os
def transform(g):
    with open("f", "w") as f:
        f.write("1")
    with open(os.path.join(os.getcwd(), "f")) as f:
        return np.flipud(g) if f.read() == "1" and os.getcwd() != "/" else g
"""

FINALLY_REENTERS = (
    "def f():\n    try:\n        while True:\n            pass\n    finally:\n        f()\n"
    "def transform(g):\n    f()\n    return g\n"
)

HOSTILE = {
    # Admitted by the verifier: every ProgramTimeout the timer raises lands in a `finally` that
    # starts the loop again (see the test below).
    "finally-reenters-forever": (FINALLY_REENTERS, "timeout"),
    # C loops that never look at signals: big-int arithmetic and a string that keeps doubling.
    "c-loop-bigint-pow": ("def transform(g):\n    x = 7 ** (10**10)\n    return g\n", "timeout"),
    "c-loop-str-replace": (
        "def transform(g):\n    s = 'a' * 10**6\n    for i in range(40):\n        s = s.replace('a', 'aa')\n"
        "    return g\n",
        ("memory", "timeout"),  # which comes first depends on the machine's load
    ),
    # Freed when its last local dies, in the program's own time: 100000 nested object arrays
    # overflow the C stack in numpy's deallocation; the crash is this program's, not the next one's.
    "nested-object-arrays-crash-at-return": (
        "def transform(g):\n    a = None\n    for i in range(100000):\n        b = np.array([None, None])\n"
        "        b[0] = a\n        a = b\n    return np.flipud(g)\n",
        "exception",
    ),
    # The message is built in full (64 MB) and classified: only 300 characters of it come back.
    "huge-exception-message": ("def transform(g):\n    raise ValueError('x' * (64 * 2**20))\n", "exception"),
    # A collections.namedtuple is a class made on the fast path, claiming to live in numpy.
    "namedtuple-claiming-numpy": (
        "import collections\ndef transform(g):\n    X = collections.namedtuple('X', 'apply', module='numpy')\n"
        "    return [list(r) for r in g[::-1]] if X(1).apply else g\n",
        None,
    ),
    # Sources Python refuses to compile (the verifier admits what it cannot parse: nothing runs).
    "lone-surrogate-in-source": ("def transform(g):\n    return g  # \ud800\n", "parse"),
    "nul-in-source": ("def transform(g):\n    return g\x00\n", "parse"),
    # Forked: a regex that backtracks for ever, an anonymous file (memory outside the limits), and
    # a process left with no file permissions and another directory for the next program.
    "regex-backtracking": ("import re\ndef transform(g):\n    re.match('(a+)+$', 'a' * 64 + 'b')\n", "timeout"),
    "memfd": ("import os\ndef transform(g):\n    os.memfd_create('x')\n    return g\n", "unsafe"),
    "umask-and-cwd-for-later": (
        "import os\ndef transform(g):\n    os.umask(0o777)\n    os.chdir('/')\n    return g\n",
        None,
    ),
}


@pytest.fixture(scope="module")
def sb():
    with Sandbox(workers=1, timeout_s=2.0, memory_mb=512) as sb:
        yield sb


@pytest.mark.timeout(90)
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_program_then_innocent_ones(sb, name):
    src, kind = HOSTILE[name]
    innocents = [f"{INNOCENT}# {name} {i}\n" for i in range(4)] + [f"{WRITES_A_FILE}# {name}\n"]
    results = sb.run_many([src] + innocents, [[GRID]] * 6)
    assert results[0].error in (kind if type(kind) is tuple else (kind,)), (name, results[0].detail)
    assert len(results[0].detail) <= 500
    if kind is None:
        assert results[0].outputs == [FLIPPED] or results[0].outputs == [GRID]
    assert [r.outputs for r in results[1:]] == [[FLIPPED]] * 5, [r.detail for r in results[1:]]


@pytest.mark.timeout(60)
def test_a_program_that_keeps_catching_the_timer_loses_its_worker_soon_after_its_limit(sb):
    # It used to hold its fast-path worker until the parent's deadline (timeout_s + 1.5 s); a
    # forked program is killed at timeout_s. Now the timer gives the worker up 0.2 s past the limit.
    results = sb.run_many([FINALLY_REENTERS, INNOCENT], [[GRID], [GRID]])
    assert results[0].error == "timeout"
    assert "kept catching the timer" in results[0].detail
    assert results[0].duration_s < sb.timeout_s + 1.0, results[0].duration_s
    assert results[1].outputs == [FLIPPED]
