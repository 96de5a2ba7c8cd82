"""Refine data on the trainer side: the refine file's records matched with their tasks.

Each record (jobs.refine.Attempt) answers one task of the file's dataset; a grpo-refine row and a
refine evaluation prompt show that task, the record's program and its feedback, and the reward
scores the new program on the task.
"""

from __future__ import annotations

from typing import Any

from jobs import refine
from jobs.errors import SpecError


def refine_tasks(p: Any) -> tuple[list, list[refine.Attempt]]:
    """(tasks, attempts), tasks[i] being the task attempts[i] answers; `max_tasks` / `task_ids`
    select records by task. Every problem names the file and the record."""
    from trainer.task_select import select_tasks

    doc = refine.load(p.refine_dataset)
    if doc.dataset != p.dataset:
        raise SpecError(
            f"refine_dataset {p.refine_dataset} answers dataset {doc.dataset!r}, but dataset is "
            f"{p.dataset!r} (set -p dataset={doc.dataset})"
        )
    by_id = {t.task_id: t for t in select_tasks(p.dataset)}
    tasks, attempts = [], []
    wanted = set(p.task_ids) if p.task_ids else None
    chosen: list[str] = []
    for i, att in enumerate(doc.records):
        task = by_id.get(att.task_id)
        where = f"refine_dataset {p.refine_dataset}: record {i} (task {att.task_id})"
        if task is None:
            raise SpecError(f"{where}: no such task in {p.dataset}")
        problem = refine.record_problem(att, len(task.train), len(task.test))
        if problem:
            raise SpecError(f"{where}: {problem}")
        if wanted is not None and att.task_id not in wanted:
            continue
        if att.task_id not in chosen:
            if p.max_tasks is not None and len(chosen) >= p.max_tasks:
                continue
            chosen.append(att.task_id)
        tasks.append(task)
        attempts.append(att)
    if not attempts:
        raise SpecError(f"refine_dataset {p.refine_dataset}: no records left after max_tasks/task_ids")
    return tasks, attempts


def before_metrics(attempts: list[refine.Attempt], truth: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The eval metrics of the earlier programs themselves (the "before" of a refine evaluation)."""
    from jobs import evalmetrics

    preds = [
        {
            "task_id": a.task_id,
            "error": a.error,
            "train_outputs": None if a.error else [p.output for p in a.pairs],
            "test_outputs": None if a.error else a.test_outputs,
        }
        for a in attempts
    ]
    return evalmetrics.compute_metrics(preds, {t: truth[t] for t in dict.fromkeys(a.task_id for a in attempts)})
