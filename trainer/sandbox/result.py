"""Result type, error kinds and grid validation shared by the parent and the workers.

Validation exists twice on purpose: the worker turns whatever the program returned into plain
lists (so nothing but JSON of small ints ever leaves it), and the parent re-checks what arrives,
because a hostile program shares the worker's address space and may forge the reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobs.rundir import ERROR_KINDS  # noqa: F401 - the run-dir list, used by the parent and the workers

Grid = list[list[int]]
MAX_SIDE = 30


@dataclass
class ExecResult:
    outputs: list[Grid] | None
    error: str | None = None
    detail: str = ""
    duration_s: float = 0.0
    stdout: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def to_grid_array(obj: Any):
    """Validate a program's return value as an ARC grid; (uint8 array, "") or (None, reason).

    Accepts 2-D integer numpy arrays and lists/tuples of lists/tuples of ints (python or numpy
    integers). Exact type checks, not isinstance, so list subclasses with custom iteration are
    rejected instead of iterated.
    """
    import numpy as np

    if type(obj) is np.ndarray:
        arr = obj
        if arr.ndim != 2:
            return None, f"output array has {arr.ndim} dimensions, expected 2"
        if arr.dtype.kind not in "iu":
            return None, f"output array dtype {arr.dtype} is not an integer type"
    else:
        if type(obj) not in (list, tuple):
            return None, f"output is {type(obj).__name__}, expected a 2-D grid"
        if not 1 <= len(obj) <= MAX_SIDE:
            return None, f"output has {len(obj)} rows, expected 1..30"
        rows = []
        for row in obj:
            if type(row) is np.ndarray and row.ndim == 1 and row.dtype.kind in "iu":
                if not 1 <= row.shape[0] <= MAX_SIDE:  # before converting it: a broadcast view of
                    # 10**8 cells costs the program nothing and its validation seconds and 800 MB
                    return None, f"output row has {row.shape[0]} cells, expected 1..30"
                row = row.tolist()
            if type(row) not in (list, tuple):
                return None, f"output row is {type(row).__name__}, expected a list"
            if not 1 <= len(row) <= MAX_SIDE:
                return None, f"output row has {len(row)} cells, expected 1..30"
            for v in row:
                if not (type(v) is int or (isinstance(v, np.integer) and not isinstance(v, np.bool_))):
                    return None, f"output cell is {type(v).__name__}, expected an int"
            rows.append(row)
        if len({len(r) for r in rows}) != 1:
            return None, "output rows have different lengths"
        if any(v < 0 or v > 9 for r in rows for v in r):
            return None, "output values outside 0..9"
        arr = np.array(rows, dtype=np.int64)
    h, w = arr.shape
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        return None, f"output shape {arr.shape} outside 1..30"
    if arr.min() < 0 or arr.max() > 9:
        return None, "output values outside 0..9"
    return arr.astype(np.uint8), ""


_TO_ASCII = bytes(range(48, 58))


def encode_grid(arr) -> str:
    """Compact wire form of a validated grid: "HxW:" followed by H*W digits, row-major."""
    h, w = arr.shape
    return f"{h}x{w}:" + (arr + 48).tobytes().decode("ascii")


def decode_grid(s: Any) -> Grid | None:
    """Parse and strictly validate the wire form; None if anything is off."""
    if type(s) is not str or len(s) > 8 + MAX_SIDE * MAX_SIDE:
        return None
    head, sep, digits = s.partition(":")
    h_s, x, w_s = head.partition("x")
    if not (sep and x and h_s.isdecimal() and w_s.isdecimal() and h_s.isascii() and w_s.isascii()):
        return None
    h, w = int(h_s), int(w_s)
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE) or len(digits) != h * w:
        return None
    if not (digits.isascii() and digits.isdigit()):
        return None
    import numpy as np

    cells = digits.encode("ascii").translate(_FROM_ASCII)  # b"0".."9" -> bytes 0..9
    return np.frombuffer(cells, dtype=np.uint8).reshape(h, w).tolist()  # plain ints, in C


_FROM_ASCII = bytes((b - 48) % 256 for b in range(256))
