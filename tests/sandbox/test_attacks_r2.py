"""Second round of hostile programs, each run against a real worker: what an earlier program can
leave for a later one on the fast path (memory kept alive in library caches, uninitialised memory
holding its data), memory and disk outside the limits (anonymous files), and a fast-path worker
crashing in the middle of a batch."""

import numpy as np
import pytest

from tests.sandbox.test_fast_path import VERIFIER, refused
from trainer.sandbox import Sandbox

GRID = [[1, 2, 3], [4, 5, 6]]
FLIP = "def transform(g):\n    return np.flipud(g)\n"
FLIPPED = [[4, 5, 6], [1, 2, 3]]


# ----- memory an earlier fast-path program leaves alive -------------------------------------------
# `typing` caches every subscription: `List[f]` keeps `f` (and what it closes over) for good.
RETAINS = "def transform(g):\n    big = np.ones(10 * 2**20)\n    kept = List[lambda: big]\n    return g\n"
# The same with 100,000 strings of ~450 bytes each (45 MB), small objects that malloc does not see.
RETAINS_SMALL = (
    "def transform(g):\n    big = ['x' * 440 + 'y' * (i % 7) for i in range(100000)]\n"
    "    kept = List[lambda: big]\n    return g\n"
)
# A module-level array in the program's own garbage cycle (globals <-> functions) is not retention.
CYCLE = "BIG = np.ones(10 * 2**20)\ndef transform(g):\n    return g\n"
NEEDS_64MB = (
    "def transform(g):\n    a = np.zeros(64 * 2**20, dtype=np.uint8) + 1\n    return np.flipud(g) * int(a[-1])\n"
)


@pytest.mark.timeout(60)
def test_memory_kept_alive_by_a_library_cache_does_not_reach_the_next_program():
    with Sandbox(workers=1, timeout_s=2.0, memory_mb=256) as sb:
        assert sb.run_one(NEEDS_64MB, [GRID]).outputs == [FLIPPED]
        fast, recycled = sb.stats["fast_path"], sb.stats["recycled"]
        # 3 x 80 MB kept by typing's cache would leave a 256 MB worker too little for 64 MB more.
        res = sb.run_many([RETAINS + f"# {k}\n" for k in range(3)] + [NEEDS_64MB + "#\n"], [[GRID]] * 4)
        assert [r.error for r in res] == [None] * 4, [r.detail for r in res]
        assert res[3].outputs == [FLIPPED]
        assert sb.stats["fast_path"] - fast == 4  # all ran in the worker itself
        # typing's caches are emptied after every program: nothing stays, no worker is replaced
        # (heap.Retention is the second line, for caches not known to hold program objects).
        assert sb.stats["recycled"] - recycled == 0
        res = sb.run_many([RETAINS_SMALL + f"# {k}\n" for k in range(3)] + [NEEDS_64MB + "#s\n"], [[GRID]] * 4)
        assert [r.error for r in res] == [None] * 4, [r.detail for r in res]
        # Garbage, however big, is collected rather than paid for with a new worker.
        recycled = sb.stats["recycled"]
        res = sb.run_many([CYCLE + f"# {k}\n" for k in range(3)] + [NEEDS_64MB + "##\n"], [[GRID]] * 4)
        assert [(r.error, r.outputs) for r in res] == [(None, [GRID])] * 3 + [(None, [FLIPPED])]
        assert sb.stats["recycled"] == recycled


def test_integrity_sees_numpy_error_handling_left_changed():
    """np.linalg runs in `np.errstate(invalid="call", call=<raise LinAlgError>)`; a MemoryError
    inside its exit would leave that for every later program (0/0 raising LinAlgError)."""
    import math

    from tests.sandbox.test_fast_path import base_globals
    from trainer.sandbox.inline import Integrity

    check = Integrity({"numpy": np, "math": math}, base_globals(), {"len": len})
    assert check.intact()
    state = np.errstate(invalid="raise")
    state.__enter__()  # never left: what an interrupted exit leaves
    try:
        assert not check.intact()
    finally:
        state.__exit__(None, None, None)
    assert check.intact()


# ----- uninitialised memory: the data of earlier programs ---------------------------------------
# The padding of an aligned structured array is never written; its raw bytes (bytes(array)) hold
# whatever the last array of that size held: here the previous program's, in the same worker.
WRITER = "def transform(g):\n    for _ in range(50):\n        x = np.full(64, {v}, dtype=np.uint8)\n    return g\n"
READER = (
    "def transform(g):\n    d = np.dtype([('a', 'i1'), ('b', 'i8')], align=True)\n"
    "    raw = bytes(np.ones(4, dtype=d))\n    return [[v // 30 for v in raw[1:8]]]\n"
)


@pytest.mark.timeout(60)
def test_uninitialised_padding_does_not_show_an_earlier_programs_data():
    with Sandbox(workers=1, timeout_s=2.0, memory_mb=256) as sb:
        got = []
        for v in (0, 150):
            res = sb.run_many([WRITER.format(v=v), READER + f"# {v}\n"], [[GRID]] * 2)
            assert res[1].error is None, res[1].detail
            got.append(res[1].outputs)
    assert got[0] == got[1]  # the reader's result is its own, whatever ran before it


# Past the verifier: a dict-built dtype with gaps, read through a bytes object from an 'S' array.
GAPS_READER = (
    "def transform(g):\n    d = np.dtype({'names': ['a'], 'formats': ['i1'], 'offsets': [0], 'itemsize': 8})\n"
    "    sep = np.zeros(1, dtype='s1'.upper()).tolist()[0]\n    raw = sep.join([np.ones(8, dtype=d)])\n"
    "    return [[v // 30 for v in raw[1:8]]]\n"
)


@pytest.mark.timeout(60)
def test_memory_a_program_is_given_holds_nothing_of_an_earlier_one():
    assert VERIFIER.check(GAPS_READER).admitted
    with Sandbox(workers=1, timeout_s=2.0, memory_mb=256) as sb:
        got = [sb.run_many([WRITER.format(v=v), GAPS_READER + f"# {v}\n"], [[GRID]] * 2)[1] for v in (0, 150)]
        assert sb.stats["fast_path"] == 4
        assert [(r.error, r.outputs) for r in got] == [(None, [[[0] * 7]])] * 2, [(r.detail, r.outputs) for r in got]
        assert sb.protections()["fresh_memory"], sb.protections().get("fresh_memory_missing")


@pytest.mark.parametrize(
    "src,why",
    [
        pytest.param(READER, "align", id="align-keyword"),
        pytest.param("def transform(g):\n    return [list(bytes(g))[:3]]\n", "bytes", id="bytes"),
        pytest.param("def transform(g):\n    return [list(bytearray(g))[:3]]\n", "bytearray", id="bytearray"),
        pytest.param("def transform(g):\n    return [list(b''.join([g]))[:3]]\n", "bytes literal", id="bytes-literal"),
        # The text of an object holds its heap address: '%r' built or held in a variable.
        pytest.param("def transform(g):\n    f = '%r'\n    return [[len(f % (transform,))]]\n", "%", id="percent-var"),
        pytest.param("def transform(g):\n    f = chr(37) + 'r'\n    return g\n", "chr", id="percent-chr"),
    ],
)
def test_the_verifier_refuses_raw_memory_and_address_text(src, why):
    assert why in refused(src)


def test_refused_raw_memory_programs_still_get_their_result():
    """Refused programs fork: their result is what a fresh process computes."""
    assert VERIFIER.check(FLIP).admitted
    with Sandbox(workers=1, timeout_s=2.0, memory_mb=256) as sb:
        res = sb.run_many(["def transform(g):\n    return [list(bytes(np.uint8(g)))[:3]]\n", FLIP], [[GRID]] * 2)
    assert [(r.error, r.outputs) for r in res] == [(None, [[[1, 2, 3]]]), (None, [FLIPPED])]


# A forking worker decodes each program's task and relays its result: both stay in its freed heap,
# which the process it forks for the next program inherits (np.empty is allowed there). SEEKER
# looks for an earlier program's answer ("3x3:" and 9 digits, as results travel) in that memory.
ANSWER = [[7, 1, 8], [2, 8, 1], [8, 2, 8]]
ANSWERING = "import os\ndef transform(g):\n    return [[7, 1, 8], [2, 8, 1], [8, 2, 8]]\n"
SEEKER = """import os
def transform(g):
    for size in [64, 100, 128, 200, 256, 300, 400, 512, 1000, 1024, 2048, 4096, 8192, 16384, 65536]:
        for _ in range(4):
            raw = np.empty(size, dtype=np.uint8).tobytes()
            i = raw.find(b'3x3:')
            while i >= 0:
                digits = raw[i + 4 : i + 13]
                if len(digits) == 9 and all(48 <= c <= 57 for c in digits):
                    d = [c - 48 for c in digits]
                    return [d[0:3], d[3:6], d[6:9]]
                i = raw.find(b'3x3:', i + 1)
    return [[0]]
"""


@pytest.mark.timeout(60)
def test_a_forked_program_cannot_read_an_earlier_programs_answer():
    with Sandbox(workers=1, timeout_s=3.0, memory_mb=256, check_determinism=False) as sb:
        res = sb.run_many([ANSWERING, SEEKER, ANSWERING + "#\n", SEEKER + "#\n"], [[GRID]] * 4)
    assert res[0].outputs == [ANSWER] and res[2].outputs == [ANSWER]
    assert res[1].outputs != [ANSWER] and res[3].outputs != [ANSWER], [r.stdout for r in res]


# A forked program can write its own result frame and end its process: the worker relays it, so
# only the parent can hold its stdout to the cap that the worker keeps for honest programs.
FORGED_STDOUT = """import os, stat, struct, json
def transform(g):
    msg = json.dumps({"outputs": ["2x3:456123"], "error": None, "detail": "", "stdout": "A" * 900000})
    for fd in range(3, 64):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, struct.pack('!I', len(msg)) + msg.encode())
        except OSError:
            pass
    os._exit(0)
"""


@pytest.mark.timeout(60)
def test_a_forged_result_frame_cannot_pass_more_stdout_than_the_cap():
    with Sandbox(workers=1, timeout_s=3.0, memory_mb=256, stdout_cap=4096) as sb:
        res = sb.run_many([FORGED_STDOUT, FLIP], [[GRID]] * 2)
    assert res[0].outputs == [FLIPPED]  # its own result, which it may forge
    assert len(res[0].stdout) < 4096 + 64 and res[0].stdout.endswith("more characters dropped]")
    assert res[1].outputs == [FLIPPED]


# ----- memory and disk outside the limits --------------------------------------------------------
MEMFD = """import os
def transform(g):
    chunk = b"x" * 2**20
    for i in range(40):
        fd = os.memfd_create("m")
        for _ in range(8):
            os.write(fd, chunk)
    return g
"""


@pytest.mark.timeout(60)
def test_anonymous_files_cannot_hold_memory_beyond_the_limits():
    """memfd pages count neither against RLIMIT_AS nor against the temp dir's tmpfs: 320 MB
    here, in a sandbox of 128 MB of memory and 16 MB of disk."""
    with Sandbox(workers=1, timeout_s=5.0, memory_mb=128, disk_mb=16) as sb:
        res = sb.run_many([MEMFD, FLIP], [[GRID]] * 2)
    assert res[0].error == "unsafe", (res[0].error, res[0].detail)
    assert res[1].outputs == [FLIPPED]


# ----- a fast-path worker crashing mid-batch --------------------------------------------------
# Deeply nested iterators overflow the C stack (no recursion check in map's next): SIGSEGV in
# the worker itself, with programs waiting in its socket.
SEGFAULT = "def transform(g):\n    it = iter([1])\n    for _ in range(3 * 10**5):\n        it = map(abs, it)\n    return [[next(it)]]\n"


@pytest.mark.timeout(60)
def test_a_crashing_fast_path_worker_costs_one_result_the_rest_come_back_in_order():
    assert VERIFIER.check(SEGFAULT).admitted
    progs = [f"# {k}\n" + FLIP for k in range(3)] + [SEGFAULT] + [f"# {k}\n" + FLIP for k in range(3, 9)]
    grids = [[[[k % 10, 1], [2, 3]]] for k in range(len(progs))]
    with Sandbox(workers=1, timeout_s=5.0, memory_mb=256) as sb:
        died = sb.stats["died"]
        res = sb.run_many(progs, grids)
        assert sb.stats["died"] == died + 1, (sb.stats, [(r.error, r.detail) for r in res])
        assert sb.ready_workers() == sb.total_workers
        assert sb.run_one(FLIP, [GRID]).outputs == [FLIPPED]
    assert res[3].error == "exception" and "SIGSEGV" in res[3].detail, res[3].detail
    for k, r in enumerate(res):
        if k != 3:
            assert r.outputs == [np.flipud(grids[k][0]).tolist()], (k, r.error, r.detail)
