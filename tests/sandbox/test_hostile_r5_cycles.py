"""Round 5: memory a fast-path program leaves where no collector reaches it (a cycle through a numpy
object array: arrays are not tracked by the garbage collector) cannot be freed in the worker, so
the worker is replaced (`heap.Retention`). What bounds the cost is that replacement: a new
fast-path worker used to scan every allowed attribute of every allowed module and class for shared
containers (~38000 lookups, ~200 ms of CPU on the 2-vCPU VM), so a batch of such programs ran at
~4 programs a second; the zygote now scans once and every worker inherits the answer."""

import copy
import sys
import time

import pytest

from trainer import program_library
from trainer.sandbox import Sandbox, inline, purity
from trainer.sandbox.inline import Integrity
from trainer.sandbox.runner import program_globals

GRID = [[1, 2, 3], [4, 5, 6]]
FLIPPED = [[4, 5, 6], [1, 2, 3]]
# Admitted by the verifier (an object array needs no `object`: `None` makes one); the cycle keeps
# a list of 100000 ints alive, which the retention check counts well past its 16 MB allowance.
CYCLE = """
def transform(g):
    a = np.array([None, None])
    a[0] = a
    a[1] = list(range(100000))
    return np.flipud(g)
"""
INNOCENT = "def transform(g):\n    return np.flipud(g)\n"


def test_a_new_worker_inherits_the_scan_for_shared_containers(monkeypatch):
    inline.warm(program_library, True)  # what the zygote does before it forks workers

    def scan_again(roots):
        raise AssertionError("scanned again")

    monkeypatch.setattr(inline, "shared_mutables", scan_again)
    mods = {n: sys.modules[n] for n in purity.MODULES if n in sys.modules}
    check = Integrity(mods, program_globals(program_library), {"len": len})
    shared = {id(obj) for obj, _ in check.containers}
    nil = copy.deepcopy.__defaults__[-1]
    assert shared == {id(program_library.Color.ALL_COLORS), id(program_library.Color.NOT_BLACK), id(nil)}
    assert check.intact()


def _batch_seconds(sb, src: str, n: int) -> float:
    t = time.perf_counter()
    results = sb.run_many([f"{src}# {i}\n" for i in range(n)], [[GRID]] * n)
    took = time.perf_counter() - t
    assert [r.outputs for r in results] == [[FLIPPED]] * n, {r.error for r in results}
    return took


@pytest.mark.timeout(120)
def test_object_array_cycles_cost_one_cheap_worker_each_and_never_reach_the_next_program():
    n = 12
    with Sandbox(workers=1, timeout_s=2.0, memory_mb=256, fast_path=False) as sb:
        _batch_seconds(sb, INNOCENT, 2)
        forked = _batch_seconds(sb, INNOCENT, n)  # a fresh worker and a fork per program
    with Sandbox(workers=1, timeout_s=2.0, memory_mb=256) as sb:
        _batch_seconds(sb, INNOCENT, 2)
        spawned = sb.stats["spawned"]
        cycles = _batch_seconds(sb, CYCLE, n)
        assert sb.stats["fast_path"] >= n
        assert sb.stats["spawned"] - spawned >= n  # every such program cost its worker
        recycled = sb.stats["recycled"]
        _batch_seconds(sb, INNOCENT, n)
        assert sb.stats["recycled"] == recycled  # nothing of them reached the next worker
    # A replacement fast-path worker costs no more than the fresh worker and fork that a program
    # refused by the verifier gets (it used to cost ~6 times as much: the scan).
    assert cycles < 2 * forked + 0.5, (cycles, forked)
