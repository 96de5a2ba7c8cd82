"""The fast path (programs run in the worker itself): what the verifier admits, and hostile programs
shaped to pass it, each followed on the same worker by an innocent program whose result must be
correct. A hostile program is either refused (and then forks as before) or admitted and harmless
(or caught by the integrity check, which replaces the worker before its next program)."""

import os
import sys

import numpy as np
import pytest

from trainer import program_library
from trainer.sandbox import Sandbox, purity
from trainer.sandbox.inline import shared_mutables

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))

from corpus import build_corpus  # noqa: E402

GRID = [[1, 2, 3], [4, 5, 6]]
FLIPPED = [[4, 5, 6], [1, 2, 3]]
INNOCENT = (
    "from common import *\nimport random\ndef transform(g):\n    out = np.flipud(g).copy()\n"
    "    out[0, 0] = Color.NOT_BLACK[3] + len(Color.ALL_COLORS) - 10 + int(np.sum(np.zeros(3)))\n"
    "    return out\n"
)
INNOCENT_OUT = [[4, 5, 6], [1, 2, 3]]


def base_globals() -> dict:
    import typing

    g = {"np": np, "numpy": np, "common": program_library}
    g.update({n: getattr(typing, n) for n in typing.__all__})
    g.update({n: getattr(program_library, n) for n in program_library.__all__})
    return g


VERIFIER = purity.Verifier(base_globals(), common_ok=True)


def refused(src: str) -> str:
    v = VERIFIER.check(src)
    return "" if v.admitted else v.why


# ----- the verifier alone (no processes) ------------------------------------------------------
def test_most_corpus_programs_are_admitted_and_skip_the_rerun_only_without_randomness():
    items = build_corpus(200, seed=3)
    verdicts = [(it, VERIFIER.check(it.program)) for it in items]
    assert sum(v.admitted for _, v in verdicts) >= 0.95 * len(items)
    for it, v in verdicts:
        if it.category == "nondeterministic":
            assert v.rerun and v.uses_random, it.program


def test_the_verified_helper_names_are_the_library_exports():
    """Adding a helper to the library must go with a look at it before the fast path trusts it."""
    assert purity.COMMON == set(program_library.__all__)


def test_the_only_shared_mutable_state_reachable_is_what_the_worker_checks():
    import collections
    import copy
    import functools
    import heapq
    import itertools
    import math
    import random
    import typing

    mods = {m.__name__: m for m in (np, np.random, np.linalg, math, itertools, collections, functools, copy, heapq)}
    mods.update({"typing": typing, "random": random, "common": program_library})
    roots = dict(base_globals(), **mods)
    paths = {p for p, _ in shared_mutables(roots)}
    # copy.deepcopy's `_nil=[]` default is a sentinel it never fills; checked all the same.
    assert paths == {"Color.ALL_COLORS", "Color.NOT_BLACK", "copy.deepcopy(default)"}


T = "def transform(g):\n    "


def _try(body: str, clause: str, handler: str) -> str:
    return f"def transform(g):\n    try:\n        {body}\n    except{clause}:\n        {handler}\n"


REFUSED = [
    ("alias-module-store", "def transform(g):\n    m = np\n    m.flipud = None\n    return g\n", "attribute store"),
    ("dunder-attr", "def transform(g):\n    return g.__class__\n", "attribute .__class__"),
    ("frame-attr", "def transform(g):\n    f = (x for x in g)\n    return f.gi_frame\n", "attribute .gi_frame"),
    ("globals-via-lambda", "def transform(g):\n    return (lambda: 0).__globals__\n", "attribute .__globals__"),
    ("str-format-walks-attrs", "def transform(g):\n    '{0.__class__}'.format(g)\n    return g\n", ".format"),
    ("format-map", "def transform(g):\n    '{a}'.format_map({'a': 1})\n    return g\n", ".format_map"),
    ("class", "class A:\n    pass\ndef transform(g):\n    return g\n", "class"),
    ("decorator", "import functools\n@functools.lru_cache\ndef transform(g):\n    return g\n", "decorator"),
    ("generator", "def gen():\n    yield 1\ndef transform(g):\n    return g\n", "generator"),
    ("with", "def transform(g):\n    with np.errstate(all='raise'):\n        return g\n", "with"),
    ("match-class-pattern", T + "match g:\n        case np.ndarray():\n            return g\n", "match"),
    ("global", "x = 1\ndef transform(g):\n    global x\n    return g\n", "global"),
    ("bare-except", _try("return g", "", "return g"), "except"),
    ("except-base", _try("return g", " BaseException", "return g"), "except"),
    ("except-tuple-base", _try("return g", " (ValueError, BaseException)", "return g"), "except"),
    ("rebind-exception-name", "ValueError = KeyboardInterrupt\n" + _try("return g", " ValueError", "g"), "rebinds"),
    ("operator-attrgetter", "import operator\ndef transform(g):\n    return g\n", "import operator"),
    ("sys", "import sys\ndef transform(g):\n    return g\n", "import sys"),
    ("dunder-import", "def transform(g):\n    __import__('os')\n    return g\n", "__import__"),
    ("builtins-name", "def transform(g):\n    __builtins__['len'] = None\n    return g\n", "__builtins__"),
    ("getattr", "def transform(g):\n    return getattr(np, 'flipud')(g)\n", "getattr"),
    ("type", "def transform(g):\n    return type(g)(g)\n", "type"),
    ("vars", "def transform(g):\n    vars(np)\n    return g\n", "vars"),
    ("id-address", "def transform(g):\n    return g * 0 + id(g) % 10\n", "name id"),
    ("open", "def transform(g):\n    open('x', 'w')\n    return g\n", "open"),
    ("typing-overload", "def transform(g):\n    overload(transform)\n    return g\n", "overload"),
    ("from-typing-overload", "from typing import overload\ndef transform(g):\n    return g\n", "overload"),
    # A binding in another scope does not make a global read safe.
    ("other-scope-binding", "def f():\n    open = 1\ndef transform(g):\n    open('x')\n    return g\n", "open"),
    ("comprehension-iterable", "def transform(g):\n    return [open for open in open]\n", "open"),
    ("star-import-numpy", "from numpy import *\ndef transform(g):\n    return g\n", "import *"),
    ("uninitialised-empty", "def transform(g):\n    return np.empty(g.shape, dtype=int) % 10\n", ".empty"),
    ("uninitialised-ndarray", "def transform(g):\n    return np.ndarray(g.shape, dtype=int)\n", ".ndarray"),
    ("ndarray-alias", "def transform(g):\n    t = np.ndarray\n    return t(g.shape)\n", ".ndarray"),
    ("ndarray-walrus-in-annotation", "def transform(g: (t := np.ndarray)):\n    return t(g.shape)\n", ".ndarray"),
    ("ndarray-called-in-annotation", "def transform(g: np.ndarray((3, 3))):\n    return g\n", ".ndarray"),
    (
        "isinstance-rebound",
        "def isinstance(a, t):\n    return t((3,))\n" + T + "return isinstance(g, np.ndarray)",
        "rebinds",
    ),
    ("ndarray-isinstance-call", "def transform(g):\n    return isinstance(g, np.ndarray((1,)))\n", ".ndarray"),
    ("uninitialised-where", "def transform(g):\n    return np.add(g, 0, where=g > 9)\n", "where"),
    ("uninitialised-pad", "def transform(g):\n    return np.pad(g, 1, mode='empty')\n", ".pad"),
    ("kwargs-unpacking", "def transform(g):\n    return np.add(g, 0, **{'where': g > 9})\n", "**"),
    ("seterr", "def transform(g):\n    np.seterr(all='raise')\n    return g\n", ".seterr"),
    ("printoptions", "def transform(g):\n    np.set_printoptions(threshold=1)\n    return g\n", ".set_printoptions"),
    ("as-strided", "def transform(g):\n    return np.lib.stride_tricks.as_strided(g)\n", "attribute ."),
    ("exception-traceback", _try("1 / 0", " Exception as e", "return e.__traceback__"), "__traceback__"),
    ("exception-args", _try("1 / 0", " Exception as e", "return e.args"), ".args"),
    ("item-store-through-attribute", "def transform(g):\n    Color.NOT_BLACK[0] = 7\n    return g\n", "item store"),
    # The text of a function or iterator holds its heap address, which earlier programs shaped.
    ("fstring", "def transform(g):\n    s = f'{g!r:>{10}} {transform}'\n    return g\n", "f-string"),
    ("str-of-iterator", "def transform(g):\n    return g * 0 + int(str(iter(g))[-3:-1], 16) % 10\n", "str:"),
    ("print", "def transform(g):\n    print(transform)\n    return g\n", "print:"),
    ("percent-format", "def transform(g):\n    s = '%r' % (transform,)\n    return g\n", "% formatting"),
]


@pytest.mark.parametrize("src,why", [pytest.param(s, w, id=n) for n, s, w in REFUSED])
def test_the_verifier_refuses(src, why):
    assert why in refused(src)


def test_ndarray_may_be_named_as_a_type_but_not_called():
    src = (
        "from typing import List, Optional\n"
        "def f(xs: List[np.ndarray], y: Optional[np.ndarray] = None) -> np.ndarray | None:\n    return y\n"
        "def transform(g: np.ndarray) -> np.ndarray:\n    out: np.ndarray = g.copy()\n"
        "    return out if isinstance(out, (list, np.ndarray)) else g\n"
    )
    assert refused(src) == ""


def test_unparsable_source_is_admitted_nothing_of_it_runs():
    v = VERIFIER.check("def transform(g:\n")
    assert v.admitted and v.tree is None


# ----- hostile programs on a real worker ---------------------------------------------------------
# (id, program): each passes the verifier (asserted), runs in the worker, and must leave nothing
# behind that changes the next program's result.
ADMITTED = [
    ("alias-shared-list-item-store", "def transform(g):\n    x = Color.NOT_BLACK\n    x[3] = 0\n    return g\n"),
    ("alias-shared-list-augassign", "def transform(g):\n    x = Color.ALL_COLORS\n    x += [1]\n    return g\n"),
    ("default-argument-alias", "def transform(g, memo=Color.NOT_BLACK):\n    memo.reverse()\n    return g\n"),
    ("comprehension-mutates", "def transform(g):\n    [Color.NOT_BLACK.pop() for _ in range(3)]\n    return g\n"),
    ("heapq-on-shared-list", "import heapq\ndef transform(g):\n    heapq.heappush(Color.NOT_BLACK, 0)\n    return g\n"),
    (
        "walrus-and-lambda",
        "def transform(g):\n    f = lambda: (y := Color.ALL_COLORS).clear()\n    f()\n    return g\n",
    ),
    ("random-seeded", "import random\ndef transform(g):\n    random.seed(7)\n    np.random.seed(7)\n    return g\n"),
    ("random-consumed", "def transform(g):\n    np.random.rand(1000)\n    return g\n"),
    ("recursion", "def f(n):\n    return f(n + 1)\ndef transform(g):\n    return f(0)\n"),
    ("huge-allocation", "def transform(g):\n    return np.ones((40000, 40000))\n"),
    (
        "timeout-swallowed",
        "def transform(g):\n    while True:\n        try:\n            while True:\n                pass\n"
        "        except Exception:\n            pass\n",
    ),
    (
        "timeout-in-finally",
        "def transform(g):\n    try:\n        while True:\n            pass\n"
        "    finally:\n        while True:\n            pass\n",
    ),
    ("dtype-object", "def transform(g):\n    a = np.array([len, max], dtype='O')\n    return g\n"),
    ("view-of-input", "def transform(g):\n    v = g.T\n    v[0, 0] = 9\n    return g\n"),
    (
        "namedtuple-class",
        "from collections import namedtuple\ndef transform(g):\n    P = namedtuple('P', 'x y')\n    return g\n",
    ),
    ("leaked-cycle", "def transform(g):\n    a = []\n    a.append(a)\n    a.append(lambda: a)\n    return g\n"),
]


@pytest.fixture(scope="module")
def sb():
    with Sandbox(workers=1, timeout_s=1.0, memory_mb=512) as s:
        yield s


def test_hostile_programs_in_the_fast_path_pass_the_verifier():
    assert [(n, refused(s)) for n, s in ADMITTED if refused(s)] == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize("poison", [pytest.param(s, id=n) for n, s in ADMITTED])
def test_innocent_program_after_a_fast_path_program_is_scored_correctly(sb, poison):
    assert sb.run_one(INNOCENT, [GRID]).outputs == [INNOCENT_OUT]
    fast = sb.stats["fast_path"]
    res = sb.run_many([poison, INNOCENT, INNOCENT + "# again\n"], [[GRID]] * 3)
    assert sb.stats["fast_path"] - fast == 3, (res[0].error, res[0].detail)  # none forked
    assert res[1].error is None, res[1].detail
    assert res[1].outputs == [INNOCENT_OUT] and res[2].outputs == [INNOCENT_OUT]


def test_a_program_stuck_in_c_code_costs_its_worker_not_the_next_result(sb):
    """The timer cannot interrupt C code (sum over an endless iterator); the parent's deadline
    kills the worker, and the next program runs on a fresh one."""
    stuck = "import itertools\ndef transform(g):\n    return sum(itertools.count())\n"
    assert refused(stuck) == ""
    spawned = sb.stats["spawned"]
    res = sb.run_many([stuck, INNOCENT], [[GRID]] * 2)
    assert res[0].error == "timeout"
    assert res[1].outputs == [INNOCENT_OUT]
    assert sb.stats["spawned"] > spawned


def test_fast_and_forked_results_agree_on_hostile_programs():
    programs = [s for _, s in ADMITTED if "while True" not in s]
    programs.append("import random\ndef transform(g):\n    random.seed(1)\n    return [[random.randint(0, 9)] * 2]\n")
    kw = dict(workers=1, timeout_s=1.0, memory_mb=512, check_determinism=False)
    with Sandbox(fast_path=True, **kw) as fast, Sandbox(fast_path=False, **kw) as forked:
        a = fast.run_many(programs, [[GRID]] * len(programs))
        b = forked.run_many(programs, [[GRID]] * len(programs))
        assert fast.stats["fast_path"] == len(programs) and forked.stats["fast_path"] == 0
    for p, x, y in zip(programs, a, b):
        assert (x.error, x.outputs) == (y.error, y.outputs), p


def test_random_state_is_the_same_at_the_start_of_every_program_whichever_path():
    """A fast-path program that draws or seeds leaves the generators as it found them, for the
    next fast-path program and for the processes the worker forks later."""
    show = (
        "import random\ndef transform(g):\n"
        "    return np.array([[random.randrange(10) for _ in range(8)] + list(np.random.randint(0, 10, 8))])\n"
    )
    forked = show.replace("return np.array", 'return getattr(np, "array")')  # getattr: refused, forks
    assert refused(forked) and not refused(show)
    draw = "import random\ndef transform(g):\n    random.seed(3)\n    np.random.rand(50)\n    return g\n"
    programs = [forked, draw, forked + "#\n", show, draw + "#\n", show + "#\n", forked + "##\n"]
    with Sandbox(workers=1, timeout_s=1.0, memory_mb=512, check_determinism=False) as sb:
        res = sb.run_many(programs, [[GRID]] * len(programs))
        assert sb.stats["fast_path"] == 4
    drawn = {str(r.outputs) for p, r in zip(programs, res) if "randrange" in p}
    assert all(r.error is None for r in res), [r.detail for r in res]
    assert len(drawn) == 1, drawn


def test_programs_that_fork_never_see_what_fast_path_programs_left_in_a_worker():
    """Programs the verifier refuses fork from a fresh worker that has never run a program: its
    modules and caches are not shaped by the fast-path programs before them. (Object addresses
    are not compared: each worker is forked from the zygote as it is then.)"""
    probe = "import sys\ndef transform(g):\n    print(id(object()), len(sys.modules))\n    return g\n"
    assert refused(probe)
    churn = [
        f"from typing import List\ndef transform(g) -> List[int]:\n    keep = [[{k}] * {k} for _ in range(300)]\n"
        f"    d = {{i: [i] * {k} for i in range(200)}}\n    return g\n"
        for k in range(1, 30)
    ]
    with Sandbox(workers=1, timeout_s=1.0, memory_mb=512) as sb:
        warm = sb.run_many([probe, probe + "#1\n"], [[GRID]] * 2)
        after = sb.run_many(churn + [probe + "#2\n"], [[GRID]] * (len(churn) + 1))
        assert sb.stats["fast_path"] == len(churn)
    modules = [r.stdout.split()[1::2] for r in (warm[1], after[-1])]
    assert modules[0] == modules[1] == modules[0][:1] * 2, modules


def test_a_worker_that_exits_to_be_recycled_loses_no_program_sent_to_it():
    """The parent keeps sending to a busy worker; one that exits after a program (to be replaced)
    has replies in its socket still to be read and programs that never reached it: both must come
    out right (a race: several rounds)."""
    refused_ = "import os\ndef transform(g):\n    return np.flipud(g)\n"
    recycling = "def transform(g):\n    Color.NOT_BLACK.append(0)\n    return np.flipud(g)\n"
    flip = "def transform(g):\n    return np.flipud(g)\n"
    with Sandbox(workers=1, timeout_s=1.0, memory_mb=512) as sb:
        for round_ in range(8):
            progs = [f"# {round_} {k}\n" + refused_ for k in range(4)] + [recycling + f"# {round_}\n"]
            progs += [f"# {round_} {k}\n" + flip for k in range(10)]
            res = sb.run_many(progs, [[GRID]] * len(progs))
            assert [(r.error, r.outputs) for r in res] == [(None, [FLIPPED])] * len(progs), round_
        # 8 caught by the integrity check, and every forking worker after its one program
        assert sb.stats["recycled"] == 8 + 8 * 4 and sb.stats["died"] == 0


def test_a_custom_helper_library_is_never_run_in_the_fast_path(tmp_path):
    """A user's `common_module` is not verified: programs that use it (even through a name that
    shadows a builtin) fork; programs that do not still take the fast path."""
    lib = tmp_path / "mylib.py"
    lib.write_text(
        "__all__ = ['max', 'helper']\nSEEN = []\ndef max(*a):\n    SEEN.append(1)\n    return len(SEEN)\n"
        "def helper(g):\n    return g\n"
    )
    uses_max = "def transform(g):\n    return [[max(1, 2)]]\n"
    uses_helper = "def transform(g):\n    return helper(g)\n"
    plain = "def transform(g):\n    return np.flipud(g)\n"
    with Sandbox(workers=1, timeout_s=1.0, memory_mb=512, common_module=lib) as sb:
        res = sb.run_many([uses_max, uses_max + "#\n", uses_helper, plain], [[GRID]] * 4)
        assert sb.stats["fast_path"] == 1  # only `plain`
    # The library's `max` keeps state: each forked program sees it fresh, but its own re-run
    # does not, so both are flagged the same way (and not poisoned by each other).
    assert [(r.error, r.outputs) for r in res] == [
        ("nondeterministic", None),
        ("nondeterministic", None),
        (None, [GRID]),
        (None, [FLIPPED]),
    ]


def test_a_warning_shown_to_one_program_is_shown_to_the_next_too():
    """numpy remembers in its own module which warnings it has shown: each program still sees its
    own, as it would in a process of its own."""
    warns = "def transform(g):\n    np.mean(np.zeros((0,)))\n    return g\n"
    with Sandbox(workers=1, timeout_s=1.0, memory_mb=512) as sb:
        res = sb.run_many([warns, warns + "#\n", warns + "##\n"], [[GRID]] * 3)
        assert sb.stats["fast_path"] == 3
    assert all("Mean of empty slice" in r.stdout for r in res), [r.stdout for r in res]
