"""Which tasks of a data set a job trains or evaluates on: the whole set, its first `max_tasks`,
or only the tasks named in `task_ids` (e.g. the real ARC tasks a warm-started model can reach)."""

from __future__ import annotations

from typing import Any

from jobs.errors import SpecError


def select_tasks(dataset: str, max_tasks: int | None = None, task_ids: list[str] | None = None) -> list[Any]:
    from trainer.data import load_tasks

    if not task_ids:
        return load_tasks(dataset, max_tasks)
    # Filter the whole set, then cut: max_tasks counts the selected tasks, not the set's first N.
    by_id = {t.task_id: t for t in load_tasks(dataset)}
    unknown = [i for i in task_ids if i not in by_id]
    if unknown:
        raise SpecError(
            f"task_ids: {', '.join(unknown[:5])} not in dataset {dataset!r}"
            + (f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else "")
        )
    chosen = [by_id[i] for i in dict.fromkeys(task_ids)]
    return chosen[:max_tasks] if max_tasks is not None else chosen
