"""What a fast-path worker holds alive: memory a program left reachable outlives it.

Library caches keep what a program hands them: `typing`'s subscription cache keeps `List[f]` (and
so `f`, its closure and its globals) for the worker's life, and garbage cycles wait for the
collector. Each later program would then have that much less under the worker's memory limit, and
get a MemoryError that a process of its own would not. `Retention` compares the live heap after a
program with the worker's at start; the worker is replaced when a collection does not bring it
back under the allowance.

Live bytes are not all it can take away: every later program, and the worker's children, run under
the worker's address-space limit (RLIMIT_AS), and memory that is free but still mapped counts there
too. Keeping one small object alive in each of Python's 1 MiB object arenas (every 8000th tuple of a
long list) keeps all of them mapped: a few hundred live blocks, hundreds of MB of address space.
So `Retention` also checks, with one reserve-nothing mapping, that what was free under the limit at
start, but the allowance, can still be mapped. That probe (two system calls) is repeated only when
the address space can have grown since it last passed: malloc holds more from the system (its
heap and its mmapped chunks, from `mallinfo2`), or the process took a page fault. Everything else
that maps memory touches it: a new arena of Python's allocator is written (its first pool) as soon
as it is mapped, and a program has no way to map memory but these two allocators.
"""

from __future__ import annotations

import ctypes
import gc
import resource
import sys

# Bytes counted per small-object block: pymalloc serves objects of up to 512 bytes from arenas
# that malloc's statistics do not see, and only counts blocks. The upper bound, so that many large
# small objects (strings of ~450 characters) cannot hide ten times the allowance; what a program
# leaves alive after a collection is normally a handful of blocks, so this costs no false alarm.
_BLOCK_BYTES = 512


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
    ]


def _mallinfo2():
    try:
        fn = ctypes.CDLL(None).mallinfo2  # glibc >= 2.33
    except (AttributeError, OSError):
        return None
    fn.restype = _MallInfo2
    fn.argtypes = []
    return fn


_MALLINFO = _mallinfo2()
_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.mmap.restype = ctypes.c_void_p
_LIBC.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_LIBC.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_PROT_NONE, _MAP_PRIVATE, _MAP_ANONYMOUS, _MAP_NORESERVE = 0, 0x02, 0x20, 0x4000
_MAP_FAILED = ctypes.c_void_p(-1).value
_MIB = 1 << 20


def live_bytes() -> int:
    """Bytes the process holds now: malloc'd (in use, heap and mmap) plus small objects."""
    return _measure()[0]


def _measure() -> tuple[int, int | None]:
    """(live bytes, bytes malloc holds from the system or None where that is not known)."""
    small = sys.getallocatedblocks() * _BLOCK_BYTES
    if _MALLINFO is None:
        return small, None
    info = _MALLINFO()
    return info.uordblks + info.hblkhd + small, info.arena + info.hblkhd


def _faults() -> int:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_minflt + ru.ru_majflt


def fits(size: int) -> bool:
    """Could `size` more bytes be mapped now, under RLIMIT_AS? (A PROT_NONE mapping that reserves
    nothing, unmapped at once: two system calls, no memory touched.)"""
    p = _LIBC.mmap(None, size, _PROT_NONE, _MAP_PRIVATE | _MAP_ANONYMOUS | _MAP_NORESERVE, -1, 0)
    if p is None or p == _MAP_FAILED:
        return False
    _LIBC.munmap(p, size)
    return True


def room() -> int | None:
    """Bytes that can still be mapped under RLIMIT_AS (to 1 MiB), or None without a limit."""
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return None
    lo, hi = 0, limit  # fits(lo), and nothing larger than the limit can
    while hi - lo > _MIB:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


class Retention:
    """Built when the worker is ready; `exceeded()` after each program."""

    def __init__(self, allowance_bytes: int):
        self.allowance = allowance_bytes
        self.base = live_bytes()
        free = room()
        # What must still fit in one mapping after any program: the room at start, less the allowance.
        self.must_fit = None if free is None else max(_MIB, free - allowance_bytes)
        self.probed: tuple[int, int] | None = None  # (page faults, malloc's system bytes) at the last pass
        self.probes = 0

    def _held(self, probe_anyway: bool = False) -> bool:
        live, system = _measure()
        if live - self.base > self.allowance:
            return True
        if self.must_fit is None:
            return False
        seen = (_faults(), system) if system is not None else None
        last = self.probed
        if not probe_anyway and seen is not None and last is not None and seen[0] == last[0] and seen[1] <= last[1]:
            return False  # nothing mapped since the probe passed: it would pass again
        self.probes += 1
        if not fits(self.must_fit):
            return True
        self.probed = seen
        return False

    def exceeded(self) -> bool:
        if not self._held():
            return False
        gc.collect()  # garbage cycles (a program's globals and functions form one) are not retention
        _LIBC.malloc_trim(0)  # nor is free memory that malloc keeps at the top of its heap
        return self._held(probe_anyway=True)
