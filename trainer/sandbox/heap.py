"""What a fast-path worker holds alive: memory a program left reachable outlives it.

Library caches keep what a program hands them: `typing`'s subscription cache keeps `List[f]` (and
so `f`, its closure and its globals) for the worker's life, and garbage cycles wait for the
collector. Each later program would then have that much less under the worker's memory limit, and
get a MemoryError that a process of its own would not. `Retention` compares the live heap after a
program with the worker's at start; the worker is replaced when a collection does not bring it
back under the allowance.
"""

from __future__ import annotations

import ctypes
import gc
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


def live_bytes() -> int:
    """Bytes the process holds now: malloc'd (in use, heap and mmap) plus small objects."""
    small = sys.getallocatedblocks() * _BLOCK_BYTES
    if _MALLINFO is None:
        return small
    info = _MALLINFO()
    return info.uordblks + info.hblkhd + small


class Retention:
    """Built when the worker is ready; `exceeded()` after each program."""

    def __init__(self, allowance_bytes: int):
        self.allowance = allowance_bytes
        self.base = live_bytes()

    def exceeded(self) -> bool:
        if live_bytes() - self.base <= self.allowance:
            return False
        gc.collect()  # garbage cycles (a program's globals and functions form one) are not retention
        return live_bytes() - self.base > self.allowance
