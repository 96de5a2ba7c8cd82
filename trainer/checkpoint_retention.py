"""`save_total_limit`: which checkpoints a run keeps, and the callback that deletes the others.

Kept after every save: the newest `save_total_limit` valid checkpoints; the last healthy one (the
newest saved before the first health warning: what `arcctl health` names and a guard rollback goes
back to); the one this run resumed from; and every one a run next to it (a fork, a rollback child,
queued or running) starts from. Invalid checkpoints (a save cut short) are neither counted nor
deleted. TrainingArguments.save_total_limit stays unset: transformers' own rotation knows none of
these and would delete them.

A checkpoint is renamed out of the `checkpoint-N` namespace before it is deleted, so a process
killed halfway never leaves a partial folder that still reads as a checkpoint to resume from.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any, Iterable

from jobs import rundir
from jobs.health import HealthMonitor, Thresholds, healthy_checkpoint
from jobs.health.report import judged
from jobs.rundir import Checkpoint, JsonlTail, LocalFS

PRUNED_PREFIX = ".pruned-"


def prunable(checkpoints: list[Checkpoint], keep_last: int, protected: Iterable[str]) -> list[Checkpoint]:
    """The valid checkpoints outside the newest `keep_last` and not named in `protected`."""
    valid = [c for c in checkpoints if c.valid]
    keep = {c.name for c in valid[-keep_last:]} | set(protected)
    return [c for c in valid if c.name not in keep]


def started_from(run_dir: str | Path) -> set[str]:
    """Names of this run's checkpoints that runs next to it (forks and rollback children, which
    arcctl always places beside their parent) start from, read from their spec.json."""
    here = os.path.realpath(run_dir)
    out: set[str] = set()
    try:
        siblings = list(Path(run_dir).parent.iterdir())
    except OSError:
        return out
    for d in siblings:
        if os.path.realpath(d) == here:
            continue
        try:  # a neighbour's spec.json that is a FIFO or /dev/zero held every save of this run
            spec = rundir.loads(rundir.read_regular_text(d / rundir.SPEC))
        except (OSError, ValueError):
            continue
        for key in ("resume_from", "parent"):
            ref = spec.get(key) if isinstance(spec, dict) else None
            if (
                isinstance(ref, dict)
                and isinstance(ref.get("checkpoint"), str)
                and isinstance(ref.get("run_dir"), str)
                and os.path.realpath(ref["run_dir"]) == here
            ):
                out.add(Path(ref["checkpoint"]).name)
    return out


def resumed_from(spec, run_dir: str | Path) -> set[str]:
    """The checkpoint of this run dir that the spec resumes from (`arcctl resume --checkpoint`)."""
    ref = spec.resume_from
    if ref is None or not ref.checkpoint:
        return set()
    path = Path(ref.checkpoint)
    parent = path.parent if path.is_absolute() else Path(ref.run_dir)
    return {path.name} if os.path.realpath(parent) == os.path.realpath(run_dir) else set()


def remove_checkpoint(ck: Checkpoint) -> None:
    """Rename out of the checkpoint namespace (atomic), then delete."""
    path = Path(ck.path)
    doomed = path.with_name(PRUNED_PREFIX + path.name)
    os.replace(path, doomed)
    shutil.rmtree(doomed)


def _leftovers(run_dir: Path) -> None:
    """Folders a process killed while deleting left behind."""
    for d in run_dir.glob(PRUNED_PREFIX + rundir.CHECKPOINT_PREFIX + "*"):
        shutil.rmtree(d, ignore_errors=True)


def make_retention_callback(spec, run_dir: str | Path, guard: Any = None):
    """A transformers.TrainerCallback enforcing params.save_total_limit, or None when it is unset.
    `guard` (trainer.guard's callback, when the run has one) contributes the first warning it saw,
    which picks the checkpoint a rollback would go back to."""
    p = spec.typed_params()
    limit = getattr(p, "save_total_limit", None)
    if not limit:
        return None
    from transformers import TrainerCallback

    run_dir = Path(run_dir)
    fs = LocalFS()
    # the same rules over the same files as `arcctl health`: its healthy checkpoint is kept
    monitor = HealthMonitor(
        Thresholds.from_overrides(getattr(p, "health", None) or {}, source=f"{run_dir}/spec.json: params.health"),
        getattr(p, "max_completion_length", None),
    )
    tails = (JsonlTail(str(run_dir / rundir.METRICS), fs), JsonlTail(str(run_dir / rundir.COMPLETIONS), fs))

    class CheckpointRetention(TrainerCallback):
        def protected(self, checkpoints: list[Checkpoint]) -> dict[str, str]:
            why: dict[str, str] = {}
            if judged(spec.kind):
                monitor.update(tails[0].read_new(), tails[1].read_new())
            warnings = {monitor.first_step("warning")}
            guard_monitor = getattr(guard, "monitor", None)
            if guard_monitor is not None:
                warnings.add(guard_monitor.first_step("warning"))
            for first in warnings - {None}:
                ck = healthy_checkpoint(checkpoints, first)
                if ck is not None:
                    why[ck.name] = "last healthy"
            for name in resumed_from(spec, run_dir):
                why.setdefault(name, "resumed from")
            for name in started_from(run_dir):
                why.setdefault(name, "a fork starts from it")
            return why

        def prune(self) -> list[str]:
            _leftovers(run_dir)
            checkpoints = rundir.list_checkpoints(str(run_dir))
            keep = self.protected(checkpoints)
            gone = []
            for ck in prunable(checkpoints, limit, keep):
                remove_checkpoint(ck)
                gone.append(ck.name)
            if gone:
                kept = ", ".join(
                    f"{n} ({w})" for n, w in sorted(keep.items(), key=lambda kv: rundir.checkpoint_step(kv[0]) or 0)
                )
                print(
                    f"trainer: save_total_limit={limit}: deleted {', '.join(gone)}"
                    + (f"; also kept {kept}" if kept else ""),
                    file=sys.stderr,
                    flush=True,
                )
            return gone

        def on_save(self, args, state, control, **kw):
            if not state.is_world_process_zero:
                return
            try:
                self.prune()
            except Exception as e:  # noqa: BLE001 - a full disk is better than a killed run
                print(f"trainer: warning: checkpoint pruning failed: {e!r}", file=sys.stderr, flush=True)

    return CheckpointRetention()
