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

    import os
    import stat

    try:  # render looked at the path; a spec edited by hand, or a file replaced since, did not
        regular = stat.S_ISREG(os.stat(p.refine_dataset).st_mode)
    except OSError as e:
        raise SpecError(f"refine_dataset {p.refine_dataset}: cannot read ({e.strerror or e})") from None
    if not regular:  # a FIFO held the job forever, /dev/zero filled its memory
        raise SpecError(f"refine_dataset {p.refine_dataset}: not a regular file")
    doc = refine.load(p.refine_dataset)
    if doc.dataset != p.dataset:
        raise SpecError(
            f"refine_dataset {p.refine_dataset} answers dataset {doc.dataset!r}, but dataset is "
            f"{p.dataset!r} (set -p dataset={doc.dataset})"
        )
    by_id = {t.task_id: t for t in select_tasks(p.dataset)}
    shapes = {tid: (len(t.train), len(t.test)) for tid, t in by_id.items()}
    kept = refine.select_records(doc, p.refine_dataset, shapes, p.task_ids, p.max_tasks)
    attempts = [doc.records[i] for i in kept]
    tasks = [by_id[a.task_id] for a in attempts]
    return tasks, attempts


def before_metrics(attempts: list[refine.Attempt], truth: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The eval metrics of the earlier programs themselves (the "before" of a refine evaluation)."""
    from jobs import evalmetrics

    preds = []
    for a in attempts:
        error = a.error
        # a program that ran cleanly has an output for every train pair: a record without one
        # counted as valid outputs in the "before" column
        if error is None and any(p.output is None for p in a.pairs):
            error = "invalid_output"
        preds.append(
            {
                "task_id": a.task_id,
                "error": error,
                "train_outputs": None if error else [p.output for p in a.pairs],
                "test_outputs": None if error else a.test_outputs,
            }
        )
    return evalmetrics.compute_metrics(preds, {t: truth[t] for t in dict.fromkeys(a.task_id for a in attempts)})
