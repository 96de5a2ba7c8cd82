"""Third round of hostile programs, each against a real worker: what a fast-path program can leave
behind for later ones in the same worker that the live-heap measure (`heap.Retention`) misses."""

import pytest

from tests.sandbox.test_fast_path import VERIFIER
from trainer.sandbox import Sandbox

GRID = [[1, 2, 3], [4, 5, 6]]
FLIPPED = [[4, 5, 6], [1, 2, 3]]

# Python's object allocator maps 1 MiB arenas and unmaps one only when all of it is free. Keeping
# every 8000th of 2 million small tuples alive (in typing's cache, for good) keeps all ~130 arenas
# mapped: 250 live blocks, 130 MB of the worker's address space, which its limit counts.
PINS_ARENAS = (
    "def transform(g):\n"
    "    junk = [(None, None, i & 1) for i in range(2 * 10**6)]\n"
    "    keep = junk[::8000]\n"
    "    kept = List[lambda: keep]\n"
    "    return g\n"
)
NEEDS_128MB = (
    "def transform(g):\n    a = np.zeros(128 * 2**20, dtype=np.uint8) + 1\n    return np.flipud(g) * int(a[-1])\n"
)


@pytest.mark.timeout(90)
def test_memory_pinned_by_a_few_live_objects_does_not_reach_the_next_program():
    assert VERIFIER.check(PINS_ARENAS).admitted
    with Sandbox(workers=1, timeout_s=10.0, memory_mb=256) as sb:
        assert sb.run_one(NEEDS_128MB, [GRID]).outputs == [FLIPPED]
        recycled = sb.stats["recycled"]
        res = sb.run_many([PINS_ARENAS, NEEDS_128MB + "#\n"], [[GRID]] * 2)
        assert [(r.error, r.outputs) for r in res] == [(None, [GRID]), (None, [FLIPPED])], [r.detail for r in res]
        assert sb.stats["fast_path"] == 3  # all ran in the worker itself
        assert sb.stats["recycled"] - recycled == 1  # the pinning program cost its worker
