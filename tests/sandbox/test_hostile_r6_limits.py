"""Round 6: a program's limit covers all of it, on the fast path too: C code that never returns to
Python (where the fast path's timer cannot raise) ends soon after the limit, not at the parent's
deadline (timeout_s + 1.5 s), and the verification of its source counts (a long source is not
verified at all: its own process parses it, within its limit)."""

import time

import pytest

from trainer.sandbox import Sandbox, purity
from trainer.sandbox.inline import HARD_GRACE_S

GRID = [[1, 2, 3], [4, 5, 6]]
FLIPPED = [[4, 5, 6], [1, 2, 3]]
INNOCENT = "def transform(g):\n    return np.flipud(g)\n"
TIMEOUT_S = 1.0

# Admitted by the verifier; each spends its time in one C call that never checks for signals.
NEVER_RETURNS = {
    "sum-of-a-huge-range": "def transform(g):\n    return [[sum(range(10**13)) % 10]]\n",
    "islice-of-count": (
        "import itertools\ndef transform(g):\n    return [[sum(itertools.islice(itertools.count(), 10**13)) % 10]]\n"
    ),
    "max-of-a-huge-range": "def transform(g):\n    return [[max(range(10**13)) % 10]]\n",
}


@pytest.fixture(scope="module", params=[True, False], ids=["fast-path", "fork-only"])
def sb(request):
    with Sandbox(workers=1, timeout_s=TIMEOUT_S, memory_mb=256, fast_path=request.param) as sb:
        yield sb


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(NEVER_RETURNS))
def test_c_code_that_never_returns_ends_soon_after_the_limit(sb, name):
    # The parent's deadline is timeout_s + kill_grace_s + 1 = 2.5 s: on the fast path such a program
    # held its worker that long. The kernel timer ends it HARD_GRACE_S (0.3 s) past the limit.
    results = sb.run_many([NEVER_RETURNS[name]] + [INNOCENT] * 3, [[GRID]] * 4)
    assert results[0].error == "timeout", results[0].detail
    assert results[0].duration_s < TIMEOUT_S + HARD_GRACE_S + 0.5, results[0].duration_s
    assert [r.outputs for r in results[1:]] == [[FLIPPED]] * 3, [r.detail for r in results[1:]]
    assert sb.stats["killed_timeout"] == 0  # the parent never had to step in


def test_the_hard_stop_is_reported(sb):
    prot = sb.protections()
    assert bool(prot.get("hard_stop")) == sb.fast_path, prot


def _long_program(chars: int) -> str:
    """Admissible, valid and slow to verify: one function after another."""
    body = "def f{i}(g):\n    x = np.array(g)\n    for a in range(3):\n        x = np.rot90(x)\n    return x\n"
    parts, size, i = [], 0, 0
    while size < chars:
        parts.append(body.format(i=i))
        size += len(parts[-1])
        i += 1
    return "".join(parts) + "def transform(g):\n    return np.flipud(g)\n"


@pytest.mark.timeout(60)
def test_a_long_source_costs_no_more_than_its_limit():
    # 1 MB of functions: the fast-path worker verified it for ~1.5 s or more (loaded VM) before the
    # program's clock started, and then compiled it. Now it is refused unread and forked, where
    # compiling it counts against the limit.
    src = _long_program(2**20)
    with Sandbox(workers=1, timeout_s=0.5, memory_mb=512) as sb:
        t0 = time.monotonic()
        res = sb.run_one(src, [GRID])
        wall = time.monotonic() - t0
        assert sb.run_one(INNOCENT, [GRID]).outputs == [FLIPPED]
    assert res.error in (None, "timeout"), res.detail
    assert wall < 0.5 + 0.6, wall


def test_the_verifier_refuses_a_source_longer_than_its_cap():
    from tests.sandbox.test_fast_path import base_globals

    v = purity.Verifier(base_globals(), True)
    src = _long_program(purity.MAX_SOURCE - 200)
    assert len(src) <= purity.MAX_SOURCE and v.check(src).admitted
    longer = src + "#" * (purity.MAX_SOURCE + 1 - len(src))
    verdict = v.check(longer)
    assert not verdict.admitted and verdict.why == f"longer than {purity.MAX_SOURCE} characters"


@pytest.mark.timeout(120)
def test_a_long_program_is_sent_once_to_one_worker():
    # A task frame longer than the socket's buffer (~200 KB) was sent without blocking: the part
    # that fit went out, the send failed, the worker was dropped with half a frame and the program
    # sent to the next one, until one read fast enough (4 MB: 200 s and 4000 workers, loaded VM).
    src = _long_program(4 * 2**20)
    with Sandbox(workers=1, timeout_s=0.5, memory_mb=512) as sb:
        before = dict(sb.stats)
        t0 = time.monotonic()
        res = sb.run_many([src, INNOCENT], [[GRID], [GRID]])
        wall = time.monotonic() - t0
        spawned = sb.stats["spawned"] - before["spawned"]
    assert res[0].error in (None, "timeout") and res[1].outputs == [FLIPPED], [r.detail for r in res]
    assert spawned <= 2 and wall < 10, (spawned, wall)  # the forking worker's replacement


@pytest.mark.timeout(120)
def test_a_program_longer_than_a_task_frame_is_one_line_and_the_others_run():
    # Past the workers' 64 MB task frame it was sent anyway (after the loop above): the worker died
    # reading it, twice.
    src = "def transform(g):\n    return g\n#" + "\u00e9" * (12 * 2**20)  # 6 bytes each as JSON
    with Sandbox(workers=1, timeout_s=1.0, memory_mb=256) as sb:
        res = sb.run_many([src, INNOCENT], [[GRID], [GRID]])
        assert sb.stats["died"] == 0
    assert res[0].error == "parse" and "64 MB" in res[0].detail and "\n" not in res[0].detail, res[0].detail
    assert res[1].outputs == [FLIPPED]


@pytest.mark.timeout(120)
def test_inputs_past_a_task_frame_are_the_callers_error_in_one_line():
    # 75000 grids of 30x30 (68 MB as a task): sent anyway, the worker died reading the frame (or the
    # send went round the workers, as above). Now a ValueError naming the input list, as for a grid
    # that is not an ARC grid; the pool stays usable.
    big = [[1] * 30] * 30
    with Sandbox(workers=1, timeout_s=1.0, memory_mb=256) as sb:
        with pytest.raises(ValueError) as err:
            sb.run_many([INNOCENT, INNOCENT], [[GRID], [big] * 75000])
        assert str(err.value).startswith("inputs[1] has 75000 grids") and "\n" not in str(err.value)
        assert sb.stats["died"] == 0
        assert sb.run_one(INNOCENT, [GRID]).outputs == [FLIPPED]
