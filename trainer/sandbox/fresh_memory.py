"""Memory a program is given never holds what an earlier program left in it.

numpy keeps freed small array buffers (under 1 KiB) in a cache of its own and hands them out
again as they are, and malloc does the same with freed chunks; an array whose bytes are not all
written (the padding of a structured dtype, `np.empty` in a forked program) then shows an earlier
program's data, e.g. its answer. Two settings, both in the zygote, so every worker and program
process inherits them:
  * glibc (`GLIBC_TUNABLES`, read at start): no per-thread cache (it skips the next step), and
    "perturb": every freed chunk is overwritten, every new one filled with zeros;
  * numpy's data allocator (`PyDataMem_SetHandler`) set to Python's raw allocator, i.e. plain
    malloc/calloc/realloc/free, without numpy's cache of freed buffers.
"""

from __future__ import annotations

import ctypes

# perturb byte 0xff: freed memory is overwritten with 0xff, new memory with 0xff ^ 0xff = 0.
GLIBC_TUNABLES = "glibc.malloc.tcache_count=0:glibc.malloc.perturb=255"

_PYMEM_DOMAIN_RAW = 0
_API_SET_HANDLER = 304  # PyDataMem_SetHandler in numpy's C-API table (numpy >= 1.22)


class _Allocator(ctypes.Structure):
    # Python's PyMemAllocatorEx; numpy's PyDataMemAllocator has the same layout (its `free` takes
    # one more argument, the size, which Python's ignores).
    _fields_ = [(name, ctypes.c_void_p) for name in ("ctx", "malloc", "calloc", "realloc", "free")]


class _Handler(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 127), ("version", ctypes.c_uint8), ("allocator", _Allocator)]


_kept: list = []  # the handler struct must outlive every array allocated through it


def use_raw_allocator_for_numpy() -> str:
    """Make numpy allocate array data with Python's raw allocator (no reuse cache); '' or why not."""
    import numpy as np

    try:
        api = ctypes.pythonapi
        handler = _Handler(name=b"arcctl_sandbox_raw", version=1)
        api.PyMem_GetAllocator.argtypes = [ctypes.c_int, ctypes.POINTER(_Allocator)]
        api.PyMem_GetAllocator.restype = None
        api.PyMem_GetAllocator(_PYMEM_DOMAIN_RAW, ctypes.byref(handler.allocator))
        api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        api.PyCapsule_New.restype = ctypes.py_object
        capsule = api.PyCapsule_New(ctypes.addressof(handler), b"mem_handler", None)
        api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
        api.PyCapsule_GetPointer.restype = ctypes.c_void_p
        core = getattr(np, "_core", None) or np.core  # numpy 2 / 1.x
        table = ctypes.cast(
            api.PyCapsule_GetPointer(core._multiarray_umath._ARRAY_API, None), ctypes.POINTER(ctypes.c_void_p)
        )
        set_handler = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.py_object)(table[_API_SET_HANDLER])
        set_handler(capsule)
    except (AttributeError, OSError, ValueError, TypeError) as e:
        return f"numpy's allocator not replaced: {type(e).__name__}: {e}"
    _kept.append((handler, capsule))
    if core.multiarray.get_handler_name() != "arcctl_sandbox_raw":
        return "numpy's allocator not replaced"
    return ""


def check() -> str:
    """'' if a freed array's bytes never reach a new one (small and large), else what does."""
    import numpy as np

    for size in (64, 900, 7200, 200_000):
        for _ in range(3):
            a = np.full(size, 0x5A, dtype=np.uint8)
            del a
            b = np.empty(size, dtype=np.uint8)  # same size: the chunk just freed, if reused
            if (b == 0x5A).any():
                return f"a new {size}-byte array held a freed one's data"
    return ""
