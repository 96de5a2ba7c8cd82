"""Run lifecycle: stop cleanly on preemption signals, pick the checkpoint to resume from.

Clusters preempt with SIGTERM (Slurm, HTCondor eviction) or a warning signal (SIGUSR1 via
`--signal=B:USR1@90`). We finish the current step, save a checkpoint and exit 0, so a requeued
job resumes from it instead of losing everything since the last `save_steps`.
"""
from __future__ import annotations

import signal
import threading
from pathlib import Path

from jobs import rundir
from jobs.errors import SpecError

from transformers import TrainerCallback

# SIGINT too: a first Ctrl-C in a terminal stops as cleanly as a preemption, a second one aborts.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)


class SignalStop(TrainerCallback):
    """Turns a stop signal into "save at the end of this step, then stop"."""

    def __init__(self, signals=STOP_SIGNALS):
        self.received: str | None = None
        self._previous = {}
        # Handlers can only be set from the main thread; a trainer run inside a thread (an embedding
        # app) leaves signal handling to its host.
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in signals:
            self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame):
        if signum == signal.SIGINT and self.received:
            raise KeyboardInterrupt
        # Only set a flag: saving from inside a signal handler could interrupt a half-written tensor.
        self.received = signal.Signals(signum).name

    def on_step_end(self, args, state, control, **kwargs):
        if self.received:
            control.should_save = True
            control.should_training_stop = True
        return control

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def resolve_resume(spec, run_dir: str | Path, warn) -> str | None:
    """The checkpoint this run starts from, or None for a fresh start.

    A run dir that already holds checkpoints is a restarted run (requeue, preemption): its own
    newest valid checkpoint wins. Otherwise `resume_from` names a run (newest valid checkpoint) or
    one checkpoint. Invalid checkpoints are skipped, each with a `warn(message, **fields)` call.
    """
    run_dir = str(run_dir)
    own = _newest_valid(run_dir, warn)
    if own is not None:
        return own
    ref = spec.resume_from
    if ref is None:
        return None
    if ref.checkpoint:
        path = Path(ref.checkpoint)
        if not path.is_absolute():
            path = Path(ref.run_dir) / ref.checkpoint
        parent, name = str(path.parent), path.name
        match = [c for c in rundir.list_checkpoints(parent) if c.name == name]
        if not match:
            raise SpecError(f"resume_from.checkpoint: {path} does not exist")
        if not match[0].valid:
            raise SpecError(f"resume_from.checkpoint: {path} is not a valid checkpoint ({match[0].problem})")
        return match[0].path
    found = _newest_valid(ref.run_dir, warn)
    if found is None:
        raise SpecError(f"resume_from.run_dir: {ref.run_dir} has no valid checkpoint")
    return found


def _newest_valid(run_dir: str, warn) -> str | None:
    checkpoints = rundir.list_checkpoints(run_dir)
    for c in reversed(checkpoints):
        if c.valid:
            return c.path
        warn(f"skipping invalid checkpoint {c.path}: {c.problem}", checkpoint=c.path, problem=c.problem)
    return None


class KeepsRunLearningRate:
    """Trainer mixin: after a checkpoint's optimizer and scheduler are loaded, train at this run's
    learning rate (`arc_learning_rate`), not the one saved with the checkpoint. GRPO and SFT forks
    (and guard rollbacks) change it."""

    arc_learning_rate: float | None = None

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is not None and self.arc_learning_rate is not None:
            reset_learning_rate(self, self.arc_learning_rate)


def reset_learning_rate(trainer, learning_rate: float) -> None:
    """After loading a checkpoint's scheduler, use this run's learning rate.

    The scheduler's state carries the parent's base learning rate; a fork that changes the learning
    rate (e.g. a guard rollback halving it) would silently keep the old one otherwise.
    """
    sched = getattr(trainer, "lr_scheduler", None)
    sched = getattr(sched, "scheduler", sched)  # accelerate wraps the torch scheduler
    if sched is None or not hasattr(sched, "base_lrs"):
        return
    old = list(sched.base_lrs)
    if all(abs(b - learning_rate) <= 1e-12 * max(1.0, learning_rate) for b in old):
        return
    sched.base_lrs = [learning_rate for _ in old]
    for group in trainer.optimizer.param_groups:
        group["initial_lr"] = learning_rate
    # Re-apply the schedule at the current step with the new base.
    lrs = [base * fn(sched.last_epoch) for base, fn in zip(sched.base_lrs, sched.lr_lambdas)] \
        if hasattr(sched, "lr_lambdas") else list(sched.base_lrs)
    for group, lr in zip(trainer.optimizer.param_groups, lrs):
        group["lr"] = lr
    sched._last_lr = list(lrs)  # what Trainer logs as learning_rate for the next step


def prepare_run_dir(spec, run_dir: Path, files):
    """Create the run dir, write spec.json if this run has none yet (a resumed run keeps its own),
    and return the `warn(message, **fields)` every job uses: a warning event plus one stderr line."""
    import sys

    from jobs import rundir

    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / rundir.SPEC).exists():
        spec.write(run_dir)

    def warn(message: str, **fields) -> None:
        files.event("warning", message=message, **fields)
        print(f"trainer: warning: {message}", file=sys.stderr)

    return warn
