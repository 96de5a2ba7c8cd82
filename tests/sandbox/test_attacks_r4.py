"""Fourth round of hostile programs, each against a real worker: the ones that got through. (Those
that were already stopped are in hostile_programs.toml, the battery of test_hostile.py.)"""

import importlib.util
import os

import pytest

from tests.sandbox.test_fast_path import VERIFIER
from trainer.sandbox import Sandbox, isolation

GRID = [[1, 2, 3], [4, 5, 6]]
FLIP = "def transform(g):\n    return np.flipud(g)\n"
FLIPPED = [[4, 5, 6], [1, 2, 3]]

# ----- the disk cap without a mount namespace -----------------------------------------------------
# There the worker measures the program's files while it runs. A directory made without read
# permission (the program can still create files in it by name; chmod is refused, so it stays so)
# stopped the measure with "nothing over the cap", at every look: 40 MB under an 8 MB cap, and
# as much of the host's disk as the program could write before its deadline.
HIDES_FILES = """import os
def transform(g):
    os.mkdir('hide', 0o300)
    for i in range(40):
        with open(f'hide/f{i}', 'wb') as f:
            f.write(b'x' * 2**20)
    return g
"""
COUNTS_FILES = "import os\ndef transform(g):\n    print(len(os.listdir('.')))\n    return np.flipud(g)\n"


@pytest.mark.timeout(60)
def test_files_in_an_unlistable_directory_still_count_against_the_disk_cap(monkeypatch):
    monkeypatch.setenv("ARCCTL_SANDBOX_NAMESPACES", "0")
    with Sandbox(workers=1, timeout_s=10.0, memory_mb=256, disk_mb=8, check_determinism=False) as sb:
        assert "no mount namespace" in sb.protections()["disk"]
        res = sb.run_many([HIDES_FILES, COUNTS_FILES], [[GRID]] * 2)
    assert res[0].error == "unsafe" and "disk cap" in res[0].detail, (res[0].error, res[0].detail)
    assert (res[1].error, res[1].outputs, res[1].stdout) == (None, [FLIPPED], "0\n")


# ----- native calls without an audit event --------------------------------------------------------
# cffi calls any C function, as ctypes does, but raises no audit event: a program made raw
# syscalls (an inotify watch, before the seccomp filter refused it) and passed as a normal one.
CFFI = """import cffi
def transform(g):
    ffi = cffi.FFI()
    ffi.cdef('long syscall(long n, ...);')
    ffi.dlopen(None).syscall(294, ffi.cast('long', 0))
    return np.flipud(g)
"""


@pytest.mark.timeout(60)
@pytest.mark.skipif(importlib.util.find_spec("cffi") is None, reason="cffi not installed")
def test_native_calls_through_cffi_are_unsafe_like_ctypes():
    with Sandbox(workers=1, timeout_s=5.0, memory_mb=256) as sb:
        res = sb.run_many([CFFI, FLIP], [[GRID]] * 2)
    assert (res[0].error, res[0].outputs) == ("unsafe", None), res[0].detail
    assert "import" in res[0].detail
    assert res[1].outputs == [FLIPPED]


# ----- a huge output that costs the program nothing -------------------------------------------------
# A row given as a broadcast view of 10**8 cells takes no memory in the program; the worker
# converted it to a list before looking at its length: seconds of uninterruptible C and 800 MB,
# here a MemoryError (reported as "memory", and the fast-path worker replaced for it).
BROADCAST_ROW = "def transform(g):\n    return [np.broadcast_to(np.zeros(1, dtype=np.int64), (10**8,))]\n"


@pytest.mark.timeout(60)
def test_a_huge_broadcast_row_is_refused_before_it_is_converted():
    assert VERIFIER.check(BROADCAST_ROW).admitted
    with Sandbox(workers=1, timeout_s=5.0, memory_mb=256) as sb:
        res = sb.run_many([BROADCAST_ROW, FLIP], [[GRID]] * 2)
        assert sb.stats["fast_path"] == 2 and sb.stats["recycled"] == 0
    assert (res[0].error, res[0].detail) == (
        "invalid_output",
        "input 0: output row has 100000000 cells, expected 1..30",
    )
    assert res[1].outputs == [FLIPPED]


# ----- a directory tree too deep for shutil.rmtree ----------------------------------------------------
# shutil.rmtree recurses once per level: on a tree 1500 directories deep it raises RecursionError,
# even with ignore_errors. Without a mount namespace the program's tree is on the host's disk: the
# zygote left it there, and the parent's close() raised RecursionError (the trainer crashed).
DEEP_TREE = """import os
def transform(g):
    d = os.open('.', os.O_RDONLY)
    for _ in range(1500):
        os.mkdir('a', dir_fd=d)
        below = os.open('a', os.O_RDONLY, dir_fd=d)
        os.close(d)
        d = below
    return np.flipud(g)
"""


@pytest.mark.timeout(120)
def test_a_tree_too_deep_for_rmtree_is_removed_and_close_survives_it(monkeypatch):
    monkeypatch.setenv("ARCCTL_SANDBOX_NAMESPACES", "0")
    sb = Sandbox(workers=1, timeout_s=10.0, memory_mb=256, check_determinism=False)
    try:
        res = sb.run_many([DEEP_TREE, COUNTS_FILES], [[GRID]] * 2)
        root = sb._root
    finally:
        sb.close()
    assert [(r.error, r.outputs) for r in res] == [(None, [FLIPPED])] * 2, [r.detail for r in res]
    assert res[1].stdout == "0\n"
    assert not os.path.exists(root)


def test_remove_tree_goes_any_depth_and_never_follows_a_link(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("k")
    top = tmp_path / "top"
    top.mkdir()
    d = os.open(top, os.O_RDONLY)
    for _ in range(3000):
        os.mkdir("a", dir_fd=d)
        os.symlink(outside, "link", dir_fd=d)
        with open(os.open("f", os.O_CREAT | os.O_WRONLY, dir_fd=d), "w") as f:
            f.write("x")
        d2 = os.open("a", os.O_RDONLY, dir_fd=d)
        os.close(d)
        d = d2
    os.close(d)
    assert isolation.remove_tree(str(top), keep_top=True)
    assert os.listdir(top) == []
    assert isolation.remove_tree(str(top)) and not top.exists()
    assert (outside / "keep").read_text() == "k"
    assert isolation.remove_tree(str(top))  # already gone
