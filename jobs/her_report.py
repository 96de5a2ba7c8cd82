"""Reading a HER run: one row per target task (epochs reached, solved, best pixel score per epoch)
and the best programs of any epoch. Pure functions over the run-dir files, local or SFTP; the
dashboard and `arcctl compare` both use them.

The trainer (trainer/her.py) writes, besides the usual files:
  events.jsonl       `her_epoch` after every epoch: task_id, target, epoch, step, solved,
                     best_pixel_score, mean_pixel_score, test_correct, checkpoint;
                     `her_target` when a target is finished: solved, solved_at, epochs, test_correct
  completions.jsonl  each epoch's kept programs, best first: step, task_id, epoch, rank, completion,
                     program, pixel_score, solved, correct_test, temperature
  checkpoint-N/      adapter + her_state.json (where a resumed run continues)
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any, Iterable

from jobs.rundir import (
    COMPLETIONS,
    EVENTS,
    LocalFS,
    RunFS,
    invalid_value,
    json_bool,
    json_number,
    json_step,
    read_jsonl,
)

EV_HER_EPOCH = "her_epoch"
EV_HER_TARGET = "her_target"
HER_STATE = "her_state.json"

# metrics.jsonl `her/` series (trainer/her_relabel.py epoch_metrics, trainer/her.py) and the values
# each can take: shares and scores lie in 0..1, counts, indices and times are >= 0, the loss is any
# finite number. A value outside its range (1.7, -3), not finite (NaN written as a bare token), a
# bool or a string is no such value: readers take it as missing and say so (checked_metric).
HER_UNIT_METRICS = frozenset(
    {
        "her/best_pixel_score",
        "her/mean_pixel_score",
        "her/solved",
        "her/best_test_correct",
        "her/valid_code",
        "her/valid_outputs",
        "her/truncated_ratio",
    }
)
HER_NON_NEGATIVE_METRICS = frozenset(
    {
        "her/samples",
        "her/unique_outputs",
        "her/programs_trained",
        "her/target",
        "her/epoch",
        "her/time_sampling",
        "her/time_execution",
        "her/time_finetune",
    }
)


def checked_metric(name: str, value: Any) -> tuple[float | int | None, bool]:
    """(value, ok): metric NAME of a metrics row as readers take it. A `her/` series must be a
    finite number in its range (HER_UNIT_METRICS 0..1, HER_NON_NEGATIVE_METRICS >= 0, any other
    her/ name finite); one that fails reads as missing (None) with ok False, for the reader to name
    it. Other metrics: the number (None for anything else), always ok. Null is missing, and ok."""
    if value is None:
        return None, True
    if not name.startswith("her/"):
        return (value if isinstance(value, (int, float)) and not isinstance(value, bool) else None), True
    v = json_number(value)
    ok = v is not None
    if ok and name in HER_UNIT_METRICS:
        ok = 0 <= v <= 1
    if ok and name in HER_NON_NEGATIVE_METRICS:
        ok = v >= 0
    return (v if ok else None), ok


@dataclass
class EpochPoint:
    epoch: int
    step: int | None
    best_pixel_score: float | None
    mean_pixel_score: float | None
    solved: bool
    test_correct: float | None
    checkpoint: str | None
    # fields that failed their check and read as missing, as `name=value` (a score outside 0..1)
    invalid: list[str] = field(default_factory=list)


@dataclass
class TargetRow:
    task_id: str
    index: int
    epochs: list[EpochPoint] = field(default_factory=list)
    finished: bool = False
    # records of this target left out for a field no reader can use (`epoch=-3`), as `name=value`
    skipped: list[str] = field(default_factory=list)

    @property
    def epoch_reached(self) -> int:
        return max((e.epoch for e in self.epochs), default=0)

    @property
    def solved_at(self) -> int | None:
        """The first epoch in which a program solved every train pair (the epochs-to-solve figure models are compared by)."""
        return min((e.epoch for e in self.epochs if e.solved), default=None)

    @property
    def best_curve(self) -> list[float | None]:
        """The best pixel score of each epoch (None: missing, or invalid and read as missing)."""
        return [e.best_pixel_score for e in sorted(self.epochs, key=lambda e: e.epoch)]

    @property
    def invalid(self) -> list[str]:
        """`epoch N: field=value` for each value of its epochs that failed its check."""
        return [f"epoch {e.epoch}: {bad}" for e in self.epochs for bad in e.invalid] + [
            f"record left out: {bad}" for bad in self.skipped
        ]

    @property
    def test_correct(self) -> float | None:
        at = self.solved_at
        return next((e.test_correct for e in self.epochs if e.epoch == at), None) if at else None


def _score(ev: dict[str, Any], key: str, invalid: list[str]) -> float | None:
    """A pixel score or share (`best_pixel_score`, `mean_pixel_score`, `test_correct`): a finite
    number in 0..1. Anything else (1.7, -3, a string, true) reads as missing and is named in INVALID."""
    value = ev.get(key)
    v = json_number(value)
    if v is not None and 0 <= v <= 1:
        return float(v)
    if value is not None:
        invalid.append(f"{key}={invalid_value(value)}")
    return None


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def targets_from_events(events: Iterable[dict[str, Any]]) -> list[TargetRow]:
    """Per-target rows in target order. A resumed run may repeat an epoch it had not checkpointed:
    the later record of an epoch wins. Malformed records are skipped."""
    rows: dict[str, TargetRow] = {}
    for ev in events:
        if not isinstance(ev, dict) or ev.get("event") not in (EV_HER_EPOCH, EV_HER_TARGET):
            continue
        tid, index = ev.get("task_id"), json_step(ev.get("target"))  # an index: an integer >= 0
        if not isinstance(tid, str) or index is None:
            continue
        row = rows.setdefault(tid, TargetRow(tid, index))
        if ev["event"] == EV_HER_TARGET:
            row.finished = True
            continue
        epoch = json_step(ev.get("epoch"))
        if epoch is None or epoch < 1:  # epochs count from 1: a 0, -3 or true would be "solved at" it
            row.skipped.append(f"epoch={invalid_value(ev.get('epoch'))}")
            continue
        invalid: list[str] = []
        point = EpochPoint(
            epoch=epoch,
            step=json_step(ev.get("step")),
            best_pixel_score=_score(ev, "best_pixel_score", invalid),
            mean_pixel_score=_score(ev, "mean_pixel_score", invalid),
            solved=json_bool(ev.get("solved")) is True,
            test_correct=_score(ev, "test_correct", invalid),
            checkpoint=ev.get("checkpoint") if isinstance(ev.get("checkpoint"), str) else None,
            invalid=invalid,
        )
        row.epochs = [e for e in row.epochs if e.epoch != epoch] + [point]
        row.epochs.sort(key=lambda e: e.epoch)
    return sorted(rows.values(), key=lambda r: r.index)


def read_targets(run_dir: str, fs: RunFS | None = None) -> list[TargetRow]:
    return targets_from_events(read_jsonl(posixpath.join(run_dir, EVENTS), fs or LocalFS()))


def best_programs(
    completions: Iterable[dict[str, Any]], task_id: str, epoch: int | None = None
) -> list[dict[str, Any]]:
    """The kept programs of one target (of one epoch when given), best first per epoch."""
    out = [
        c
        for c in completions
        if isinstance(c, dict) and c.get("task_id") == task_id and (epoch is None or c.get("epoch") == epoch)
    ]
    return sorted(out, key=lambda c: (_int(c.get("epoch")) or 0, _int(c.get("rank")) or 0))


def read_best_programs(
    run_dir: str, task_id: str, epoch: int | None = None, fs: RunFS | None = None
) -> list[dict[str, Any]]:
    return best_programs(read_jsonl(posixpath.join(run_dir, COMPLETIONS), fs or LocalFS()), task_id, epoch)


def sparkline(values: list[float | None]) -> str:
    """Pixel scores (0..1) as block characters, one per epoch; `·` where a score is missing."""
    blocks = " ▁▂▃▄▅▆▇█"
    return "".join("·" if v is None else blocks[max(0, min(8, round(v * 8)))] for v in values)
