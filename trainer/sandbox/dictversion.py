"""A dict's version tag (PEP 509): CPython changes it on every change of that dict.

`inline.Integrity` compares a few hundred module entries by identity after every fast-path
program; a namespace whose tag has not moved since it last passed cannot have changed, so its
entries are compared only when it has. The tag is read from the dict object's memory (it has no
Python accessor), so the layout is checked on this interpreter first: where the check fails (a
debug or free-threaded build, a Python without the tag), `reader` returns None and every entry
is compared after every program, as before.
"""

from __future__ import annotations

import ctypes
import sys

# PyDictObject: PyObject_HEAD (refcount, type), Py_ssize_t ma_used, uint64_t ma_version_tag.
_USED = 2 * ctypes.sizeof(ctypes.c_void_p)
_TAG = _USED + ctypes.sizeof(ctypes.c_ssize_t)


def _layout_ok() -> bool:
    if sys.implementation.name != "cpython" or hasattr(sys, "gettotalrefcount"):  # debug build
        return False
    if not (3, 8) <= sys.version_info[:2] <= (3, 13) or getattr(sys, "_is_gil_enabled", lambda: True)() is False:
        return False
    probe = {"a": 1, "b": 2}
    used = ctypes.c_ssize_t.from_address(id(probe) + _USED)
    tag = ctypes.c_uint64.from_address(id(probe) + _TAG)
    before = tag.value
    if used.value != 2 or tag.value != before:
        return False
    probe["a"] = object()  # same size, other value: only the tag tells
    after = tag.value
    probe["c"] = 3
    return used.value == 3 and after != before and tag.value != after


_OK = _layout_ok()


def reader(d: dict):
    """A ctypes view of `d`'s version tag (`.value`), or None where it cannot be trusted. The
    caller keeps `d` alive for as long as it reads the view."""
    if not _OK or type(d) is not dict:
        return None
    if ctypes.c_ssize_t.from_address(id(d) + _USED).value != len(d):
        return None
    return ctypes.c_uint64.from_address(id(d) + _TAG)
