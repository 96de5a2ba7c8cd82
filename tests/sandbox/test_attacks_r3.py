"""Third round of hostile programs, each against a real worker: what a fast-path program can leave
behind in its worker for later programs: address space pinned by a few live objects, which the
live-heap measure (`heap.Retention`) did not see, and garbage whose deallocation crashes the worker
in the middle of a later, innocent program."""

import os
import subprocess
import sys

import pytest

from tests.sandbox.test_fast_path import VERIFIER
from trainer.sandbox import Sandbox

GRID = [[1, 2, 3], [4, 5, 6]]
FLIPPED = [[4, 5, 6], [1, 2, 3]]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# ----- address space pinned by a few live objects ------------------------------------------------
# Python's object allocator maps 1 MiB arenas and unmaps one only when all of it is free. Keeping
# every 8000th of 2.5 million small tuples alive keeps all ~160 arenas mapped: 300 live blocks,
# 160 MB of the worker's address space, which its limit counts. Kept alive for good by a cycle
# through an object array, which the garbage collector cannot see (numpy arrays are not tracked).
PINS_ARENAS = (
    "def transform(g):\n"
    "    junk = [(None, None, i & 1) for i in range(25 * 10**5)]\n"
    "    keep = np.zeros(1, dtype='O')\n"
    "    keep[0] = [keep, junk[::8000]]\n"
    "    return g\n"
)
NEEDS_128MB = "def transform(g):\n    a = np.ones(128 * 2**20, dtype=np.uint8)\n    return np.flipud(g) * int(a[-1])\n"


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


# The same pinning, measured by `heap.Retention` itself in a process with an address-space limit
# (the measure alone, without the sandbox around it).
RETENTION = """
import resource
from trainer.sandbox.heap import Retention
from trainer.sandbox.isolation import vm_size_bytes
resource.setrlimit(resource.RLIMIT_AS, (vm_size_bytes() + 400 * 2**20, resource.getrlimit(resource.RLIMIT_AS)[1]))
check = Retention(32 * 2**20)
assert not check.exceeded()
junk = [(None, None, i & 1) for i in range(2 * 10**6)]
keep = junk[::8000]
del junk
pinned = check.exceeded()
del keep
print(pinned, check.exceeded())
"""


@pytest.mark.timeout(60)
def test_retention_sees_address_space_that_a_few_live_objects_keep_mapped():
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", RETENTION], env=env, capture_output=True, text=True, timeout=50)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "False"]


# ----- garbage freed in a later program's time -----------------------------------------------------
# Deallocating 20000 nested object arrays overflows the C stack. Left as garbage (a cycle, or an
# entry in typing's cache that later subscriptions evict), it used to be freed by whichever later
# program ran the collector or filled the cache: that innocent program's worker crashed (SIGSEGV).
NESTED = "    x = []\n    for i in range(20000):\n        x = np.array([x, None], dtype='O')\n"
LEAVES_A_CYCLE = "def transform(g):\n" + NESTED + "    cyc = [x]\n    cyc.append(cyc)\n    return g\n"
LEAVES_IT_CACHED = "def transform(g):\n" + NESTED + "    kept = List[lambda: x]\n    return g\n"
ALLOCATES = (
    "def transform(g):\n    rows = [[int(v) for v in r] for r in g for _ in range(300)]\n    return np.flipud(g)\n"
)
SUBSCRIBES = "def transform(g):\n    kinds = [Dict[int, k] for k in range(200)]\n    return np.flipud(g)\n"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "leaves,victim", [(LEAVES_A_CYCLE, ALLOCATES), (LEAVES_IT_CACHED, SUBSCRIBES)], ids=["cycle", "cache"]
)
def test_garbage_a_program_leaves_is_freed_in_its_own_time(leaves, victim):
    assert VERIFIER.check(leaves).admitted and VERIFIER.check(victim).admitted
    with Sandbox(workers=1, timeout_s=5.0, memory_mb=512) as sb:
        res = sb.run_many([leaves, victim, victim + "#\n"], [[GRID]] * 3)
    # The program that left it pays (its own worker crashes on it, or not); never the next one.
    assert [(r.error, r.outputs) for r in res[1:]] == [(None, [FLIPPED])] * 2, [r.detail for r in res]


# ----- capabilities ----------------------------------------------------------------------------------
# Started by root, programs ran with root's capabilities (and as the owner of root's files, which
# file systems' ioctls let them change through an fd open only for reading: no-dump here, below). Seccomp and Landlock refuse the syscalls
# that need most of them, but not an ioctl on a file the program may read: FIFREEZE or
# FS_IOC_SHUTDOWN on any library file would freeze or shut down the host's file system. Probed
# harmlessly here, in the program's own temp dir: reading a file whose mode allows nobody
# (CAP_DAC_OVERRIDE), and marking a file immutable (CAP_LINUX_IMMUTABLE). fcntl comes through
# importlib, which the audit hook (classification only) does not attribute to the program.
CAPABILITIES = """import os, importlib, struct
def transform(g):
    os.close(os.open("nobody", os.O_CREAT | os.O_WRONLY, 0))
    os.close(os.open("mine", os.O_CREAT | os.O_WRONLY, 0o600))
    got = []
    try:
        os.close(os.open("nobody", os.O_RDONLY))
        got.append(1)
    except OSError:
        got.append(0)
    fd = os.open("mine", os.O_RDONLY)
    for flag in (0x10, 0x40):  # FS_IOC_SETFLAGS: immutable (a capability), no-dump (the owner's)
        try:
            importlib.import_module("fcntl").ioctl(fd, 0x40086602, struct.pack("l", flag))
            got.append(1)
        except OSError:
            got.append(0)
    return [got]
"""


@pytest.mark.timeout(60)
def test_programs_hold_no_capability_nor_change_file_attributes():
    with Sandbox(workers=1, timeout_s=5.0, memory_mb=256, check_determinism=False) as sb:
        res = sb.run_many([CAPABILITIES, FLIPPED_BY_FORK], [[GRID]] * 2)
        assert [(r.error, r.outputs) for r in res] == [(None, [[[0, 0, 0]]]), (None, [FLIPPED])], [
            r.detail for r in res
        ]
        assert "none" in sb.protections()["capabilities"]


FLIPPED_BY_FORK = "import os\ndef transform(g):\n    return np.flipud(g)\n"  # refused by the verifier: forks


# ----- memory safety of numpy calls ------------------------------------------------------------------
# `resize(refcheck=False)` moves the data of `a` and frees the old block under the view `v`: writing
# through it corrupted the worker's heap (malloc's lists, whatever later programs were given there).
DANGLING_VIEW = (
    "def transform(g):\n    a = np.zeros(4000, dtype=np.uint8)\n    v = a[:]\n"
    "    a.resize(10**6, refcheck=False)\n    v[16:] = 7\n    return g\n"
)


@pytest.mark.timeout(60)
def test_a_view_of_freed_memory_is_not_made_in_a_fast_path_worker():
    assert "refcheck" in VERIFIER.check(DANGLING_VIEW).why
    with Sandbox(workers=1, timeout_s=5.0, memory_mb=256) as sb:
        res = sb.run_many([DANGLING_VIEW, ALLOCATES, ALLOCATES + "#\n"], [[GRID]] * 3)
        assert sb.stats["fast_path"] == 2  # the two innocent ones; the other forked
    assert [(r.error, r.outputs) for r in res[1:]] == [(None, [FLIPPED])] * 2, [r.detail for r in res]
