"""Cross-program poisoning: a program that changes interpreter state (modules, caches, the harness
itself, files) followed, on the same worker, by an innocent program whose result must be correct.

Each pair runs on a one-worker sandbox, so the innocent program is served by the very worker that
ran the poisoning one.
"""

import pytest

from trainer.sandbox import Sandbox

GRID = [[1, 2, 3], [4, 5, 6]]
FLIPPED = [[4, 5, 6], [1, 2, 3]]

# (id, poisoning program, innocent program, the innocent program's correct output)
POISON = [
    (
        "deepcopy-dispatch",
        "import copy\ncopy._deepcopy_dispatch[list] = lambda x, memo: [[7]]\ndef transform(g):\n    return g\n",
        "import copy\ndef transform(g):\n    return copy.deepcopy(g.tolist())[::-1]\n",
        FLIPPED,
    ),
    (
        "warnings-filter-error",
        "import warnings\nwarnings.simplefilter('error')\ndef transform(g):\n    return g\n",
        "import warnings\ndef transform(g):\n    warnings.warn('harmless')\n    return np.flipud(g)\n",
        FLIPPED,
    ),
    (
        "replace-stdlib-module",
        "import sys, types\nfake = types.ModuleType('heapq')\nfake.nlargest = lambda n, it, key=None: [0] * n\n"
        "sys.modules['heapq'] = fake\ndef transform(g):\n    return g\n",
        "import heapq\ndef transform(g):\n    return [heapq.nlargest(3, row)[::-1] for row in np.flipud(g).tolist()]\n",
        FLIPPED,
    ),
    (
        "patch-re-function",
        "import re\nre.findall = lambda *a, **k: ['9']\ndef transform(g):\n    return g\n",
        "import re\ndef transform(g):\n    rows = [' '.join(map(str, r)) for r in np.flipud(g).tolist()]\n"
        "    return [[int(d) for d in re.findall(r'\\d', r)] for r in rows]\n",
        FLIPPED,
    ),
    (
        "decimal-context",
        "import decimal\ndecimal.getcontext().prec = 1\ndecimal.getcontext().rounding = decimal.ROUND_FLOOR\n"
        "def transform(g):\n    return g\n",
        "from decimal import Decimal\ndef transform(g):\n    s = Decimal('0.4') + Decimal('0.35')\n"
        "    return np.flipud(g) if s == Decimal('0.75') else g * 0\n",
        FLIPPED,
    ),
    (
        "gc-callback-patches-later",
        "import gc\ndef later(phase, info):\n    if info['generation'] == 2:  # not during this program\n"
        "        import numpy\n        numpy.flipud = lambda a: a\n"
        "gc.callbacks.append(later)\ndef transform(g):\n    return g\n",
        "import gc\ndef transform(g):\n    gc.collect()\n    return np.flipud(g)\n",
        FLIPPED,
    ),
    (
        "mutate-helper-list",
        "from common import *\ndef transform(g):\n    Color.NOT_BLACK.remove(1)\n    Color.NOT_BLACK.reverse()\n    return g\n",
        "from common import *\ndef transform(g):\n    out = np.flipud(g).copy()\n    out[0, 0] = Color.NOT_BLACK[3]\n    return out\n",
        FLIPPED,
    ),
    (
        "numpy-function-replaced",
        "def transform(g):\n    np.flipud = lambda a: a\n    return g\n",
        "def transform(g):\n    return np.flipud(g)\n",
        FLIPPED,
    ),
    # Frames reached through exec() with another file name escape the audit hook's frame check;
    # from the harness's frames the program patches the runner so every later result is forged.
    (
        "harness-patched-via-exec-frames",
        "SRC = '''\nimport sys\nf = sys._getframe()\nwhile f is not None:\n"
        "    r = f.f_locals.get('self')\n    if r is not None and type(r).__name__ == 'Runner':\n"
        "        type(r)._execute = lambda self, *a, **k: {'outputs': ['1x1:7'] * 5, 'error': None, 'detail': ''}\n"
        "        break\n    f = f.f_back\n'''\n"
        "def transform(g):\n    exec(compile(SRC, 'innocent_helper.py', 'exec'), {})\n    return g\n",
        "def transform(g):\n    return np.flipud(g)\n",
        FLIPPED,
    ),
    (
        "files-left-in-temp-dir",
        "def transform(g):\n    open('state.txt', 'w').write('7')\n    return g\n",
        "import os\ndef transform(g):\n    out = np.flipud(g).copy()\n    if os.path.exists('state.txt'):\n"
        "        out[0, 0] = int(open('state.txt').read())\n    return out\n",
        FLIPPED,
    ),
    (
        "recursion-limit-and-stdout",
        "import sys\nsys.setrecursionlimit(60)\nsys.stdout = None\ndef transform(g):\n    return g\n",
        "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
        "def transform(g):\n    print('ok')\n    return np.flipud(g) if depth(200) == 200 else g\n",
        FLIPPED,
    ),
]


@pytest.fixture(scope="module")
def sb():
    with Sandbox(workers=1, timeout_s=2.0, memory_mb=512) as s:
        yield s


@pytest.mark.timeout(60)
@pytest.mark.parametrize("poison,innocent,expected", [pytest.param(p, i, e, id=n) for n, p, i, e in POISON])
def test_innocent_program_after_poisoning_is_scored_correctly(sb, poison, innocent, expected):
    # The innocent program alone is correct (so a wrong answer below can only be the poison's).
    assert sb.run_one(innocent, [GRID]).outputs == [expected]
    res = sb.run_many([poison, innocent, innocent + "\n# again\n"], [[GRID]] * 3)
    assert res[1].error is None, res[1].detail
    assert res[1].outputs == [expected]
    assert res[2].outputs == [expected]


def test_no_worker_serves_another_program_after_a_poisoning_one(sb):
    """A poisoning program that forks runs in a fresh worker, which exits after it (as every
    forking worker does). The one program here that the fast path admits (it mutates a
    helper-library list through a method call) is caught by the integrity check after it, and its
    worker is replaced before it serves another program."""
    spawned, recycled, fast = sb.stats["spawned"], sb.stats["recycled"], sb.stats["fast_path"]
    res = sb.run_many(
        [p for _, p, _, _ in POISON] + ["def transform(g):\n    return np.flipud(g)\n"], [[GRID]] * (len(POISON) + 1)
    )
    assert sb.stats["fast_path"] - fast == 2, (
        sb.stats,
        [(r.error, r.detail[:60]) for r in res],
    )  # mutate-helper-list, innocent
    forked = len(POISON) - 1
    assert sb.stats["recycled"] - recycled == 1 + forked
    assert sb.stats["spawned"] - spawned == 1 + forked


def test_every_program_starts_from_the_same_interpreter_state():
    """Even the random generators: each program's process is a copy of the same pristine worker,
    not re-seeded per process, so its result never depends on which program ran before it."""
    prog = (
        "import random\ndef transform(g):\n    print(random.getrandbits(64), np.random.randint(10**9))\n"
        "    random.seed(1)\n    np.random.seed(1)\n    return g\n"
    )
    with Sandbox(workers=2, timeout_s=2.0, memory_mb=512, check_determinism=False) as sb:
        res = sb.run_many([f"# {k}\n" + prog for k in range(6)], [[GRID]] * 6)
    assert all(r.error is None for r in res), [r.detail for r in res]
    assert len({r.stdout for r in res}) == 1, [r.stdout for r in res]
