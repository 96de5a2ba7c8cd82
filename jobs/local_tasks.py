"""The task files of a job on this machine (a Kaggle-format file with its `_solutions` sibling, or
a folder of task files), read once per version of the files and process for every render check:
the task-file check, task_ids, the refine records and HER's targets each used to read (and parse)
the file again. Parsed by jobs.arc_tasks, as the trainer parses it."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from jobs.errors import SpecError


def _files(path: Path) -> list[Path] | None:
    from jobs.arc_tasks import solutions_path_for

    if path.is_dir():
        return sorted(f for f in path.iterdir() if f.name.endswith((".json", ".json.gz")))
    if path.is_file():
        return [f for f in (path, solutions_path_for(path)) if f is not None]
    return None  # a built-in name, synthetic[:N], or a path no file system holds


def _versions(files: list[Path]) -> tuple:
    # a file written again between two renders of one process (an editor, a sweep) is read again
    return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)


def raw_file(dataset: str) -> Any:
    """The parsed JSON of a local Kaggle-format challenges file, as it is (not yet validated as
    tasks: HER names a target without train pairs in its own words); None when DATASET is not a
    file. jobs.arc_tasks.DatasetError for a file that is no JSON object of unique keys."""
    path = Path(dataset.strip())
    if not path.is_file():
        return None
    return _raw(str(path), str(path.resolve()), _versions([path]))


@functools.lru_cache(maxsize=16)
def _raw(path: str, _resolved: str, _versions: tuple) -> Any:
    from jobs.arc_tasks import read_json

    return read_json(Path(path))  # a DatasetError naming the file: each caller words it


def local_tasks(dataset: str) -> dict[str, Any] | None:
    """{task id: task as a dict} of a local task file (test outputs from its solutions) or folder,
    validated as the trainer validates them; None when DATASET is neither."""
    path = Path(dataset.strip())
    files = _files(path)
    if files is None:
        return None
    return _validated(str(path), str(path.resolve()), _versions(files))


@functools.lru_cache(maxsize=16)
def _validated(path: str, _resolved: str, _versions: tuple) -> dict[str, Any]:
    # callers only read what is returned: one dict serves a whole sweep
    from jobs.arc_tasks import DatasetError, load_kaggle, load_task_dir

    try:
        tasks = load_task_dir(path) if Path(path).is_dir() else load_kaggle(path, raw=raw_file(path))
    except DatasetError as e:
        raise SpecError(f"dataset {e}") from None
    if not tasks:
        raise SpecError(f"dataset {path}: contains no tasks")
    return {t.task_id: t.to_dict() for t in tasks}
