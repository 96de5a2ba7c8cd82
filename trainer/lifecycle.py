"""Run lifecycle: stop cleanly on preemption signals, pick the checkpoint to resume from, and move
aside what came after an earlier checkpoint a run is resumed from.

Clusters preempt with SIGTERM (Slurm, HTCondor eviction) or a warning signal (SIGUSR1 via
`--signal=B:USR1@90`). We finish the current step, save a checkpoint and exit 0, so a requeued
job resumes from it instead of losing everything since the last `save_steps`.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from datetime import datetime, timezone
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

    An explicit `resume_from.checkpoint` in this run's own dir (`arcctl resume --checkpoint N`) wins
    the first time this spec starts; `branch_aside` then moves everything after it away. A run dir
    that already holds checkpoints is otherwise a restarted run (requeue, preemption): its own newest
    valid checkpoint wins. Otherwise `resume_from` names a run (newest valid checkpoint) or one
    checkpoint. Invalid checkpoints are skipped, each with a `warn(message, **fields)` call.
    """
    found = _resolve(spec, str(run_dir), warn)
    if found is not None:
        _check_step(found)
    return found


def _check_step(path: str) -> None:
    """Trainer names checkpoint-N after its trainer_state.json's `global_step` and continues at that
    step + 1. One copied or renamed (or with the step missing: Trainer then starts at 0) continued
    at another step than its name says: the rows after it were moved aside at one step and written
    again from another, a save landed on an existing checkpoint."""
    step = rundir.checkpoint_step(path)
    try:
        state = rundir.loads(rundir.read_regular_text(Path(path) / "trainer_state.json"))
    except (OSError, ValueError) as e:
        raise SpecError(f"{path}/trainer_state.json: unreadable ({e})") from None
    saved = state.get("global_step") if isinstance(state, dict) else None
    if step is not None and (type(saved) is not int or saved != step):
        raise SpecError(
            f"{path}: trainer_state.json says global_step {saved!r}, the checkpoint is step {step}; "
            "it was copied or renamed from another checkpoint"
        )


def _resolve(spec, run_dir: str, warn) -> str | None:
    ref = spec.resume_from
    if _own_checkpoint(ref, run_dir) is not None and _resume_record(spec, run_dir) is None:
        return _explicit(ref)
    own = _newest_valid(run_dir, warn)
    if own is not None:
        return own
    if ref is None:
        return None
    if ref.checkpoint:
        return _explicit(ref)
    found = _newest_valid(ref.run_dir, warn)
    if found is None:
        raise SpecError(f"resume_from.run_dir: {ref.run_dir} has no valid checkpoint")
    return found


def _checkpoint_path(ref) -> Path:
    path = Path(ref.checkpoint)
    return path if path.is_absolute() else Path(ref.run_dir) / ref.checkpoint


def _explicit(ref) -> str:
    path = _checkpoint_path(ref)
    parent, name = str(path.parent), path.name
    match = [c for c in rundir.list_checkpoints(parent) if c.name == name]
    if not match:
        raise SpecError(f"resume_from.checkpoint: {path} does not exist")
    if not match[0].valid:
        raise SpecError(f"resume_from.checkpoint: {path} is not a valid checkpoint ({match[0].problem})")
    return match[0].path


def _own_checkpoint(ref, run_dir: str) -> rundir.Checkpoint | None:
    """The checkpoint `ref` names when it lies in `run_dir` itself (a resume in place), else None."""
    if ref is None or not ref.checkpoint:
        return None
    path = _checkpoint_path(ref)
    if os.path.realpath(path.parent) != os.path.realpath(run_dir):
        return None
    return next((c for c in rundir.list_checkpoints(run_dir) if c.name == path.name), None)


def _resume_id(spec) -> str:
    # `arcctl resume` writes a new spec with a new `created` each time; a requeue re-reads the same one.
    return spec.created.isoformat()


def _resume_record(spec, run_dir: str) -> dict | None:
    """The `resumed` event this spec already wrote (it started before and was requeued), or None."""
    rid = _resume_id(spec)
    for ev in rundir.read_jsonl(Path(run_dir) / rundir.EVENTS):
        if ev.get("event") == rundir.EV_RESUMED and ev.get("resume_id") == rid:
            return ev
    return None


def branch_aside(spec, run_dir: Path, files) -> dict | None:
    """Resuming a run in its own dir from checkpoint-N: move the later checkpoints (valid or not),
    `final/`, and the metrics and completions rows of steps after N into
    `branches/<time>-from-checkpoint-N/`, so the run dir reads as one history again. Nothing is
    deleted. Writes one `resumed` event (also when nothing was moved), which marks this spec as
    started: a requeue of it continues from its own newest checkpoint instead of going back to N.
    Main process only; returns the event's fields, or None when this is no first resume in place."""
    ck = _own_checkpoint(spec.resume_from, str(run_dir))
    if ck is None or not ck.valid or not files.enabled or _resume_record(spec, str(run_dir)) is not None:
        return None  # an invalid one: resolve_resume refuses it, and nothing has moved
    extra = [run_dir / "final"] if (run_dir / "final").exists() else []
    return _move_after(spec, run_dir, files, ck.name, ck.step, extra, always=True)


def restart_aside(spec, run_dir: Path, files, resume: str | None) -> dict | None:
    """A run started again in its own dir (a requeue after a crash or SIGKILL, an auto-resume, a
    restart by hand) continues at the step of `resume` (0 without one). What its earlier attempt
    wrote after that step would otherwise be there twice: the metrics and completions rows of the
    later steps (a second, zig-zagging history), and checkpoint dirs past it (a save killed half
    way, skipped as invalid, which the next save of that step wrote into or could not replace).
    They move to `branches/` as in branch_aside, with a `resumed` event. Main process only."""
    if not files.enabled:
        return None
    step = (rundir.checkpoint_step(resume) or 0) if resume else 0
    name = Path(resume).name if resume else ""
    return _move_after(spec, run_dir, files, name, step, [], always=False)


def _move_after(spec, run_dir: Path, files, name: str, step: int, extra: list[Path], always: bool) -> dict | None:
    later = [c for c in rundir.list_checkpoints(str(run_dir)) if c.step > step]
    rows = {f: _split_rows(run_dir / f, step) for f in (rundir.METRICS, rundir.COMPLETIONS)}
    branch = None
    if later or extra or any(rows.values()):
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        dest = run_dir / rundir.BRANCHES / f"{stamp}-from-{name or 'start'}"
        branches = run_dir / rundir.BRANCHES
        if branches.is_symlink() or (branches.exists() and not branches.is_dir()):
            # rows must move somewhere real inside the run dir, or they would be lost or land elsewhere
            raise SpecError(f"{branches}: not a folder; the rows after step {step} have nowhere to go")
        dest.mkdir(parents=True)
        branch = f"{rundir.BRANCHES}/{dest.name}"
        # Rows first, written and synced in the branch before the run's files shrink: a crash in
        # between leaves them twice, never nowhere.
        for f, moved in rows.items():
            if moved:
                _split_file(run_dir / f, step, dest / f)
        for c in later:
            os.replace(c.path, dest / c.name)
        for path in extra:
            os.replace(path, dest / path.name)
    elif not always:
        return None
    fields = dict(
        checkpoint=name,
        step=step,
        resume_id=_resume_id(spec),
        branch=branch,
        moved_checkpoints=[c.name for c in later] + [p.name for p in extra],
        moved_rows=rows,
    )
    files.event(rundir.EV_RESUMED, **fields)
    return fields


def _split_rows(path: Path, step: int) -> int:
    """How many lines of PATH belong after `step` (rows of later steps; an unparseable line, the
    torn last line of a killed process, belongs to no step of the continued history and goes aside
    too). Read line by line: a run's completions.jsonl may be gigabytes (it was read whole, twice)."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return 0
    if not stat.S_ISREG(mode):  # a link to /dev/zero or a pipe would be read without end
        raise SpecError(f"{path}: not a regular file; the run's rows cannot be split at the checkpoint")
    return sum(_later(line, step) for line in _lines(path))


def _lines(path: Path):
    """Each line of PATH with its newline. A line past rundir.MAX_LINE_BYTES is no record the
    trainer writes (a sparse 20 GB file of zeros is one such line): SpecError, never held whole."""
    with open(path, "rb") as f:
        for n, line in enumerate(iter(lambda: f.readline(rundir.MAX_LINE_BYTES), b""), 1):
            if len(line) == rundir.MAX_LINE_BYTES and not line.endswith(b"\n"):
                raise SpecError(
                    f"{path}: line {n} is longer than {rundir.MAX_LINE_BYTES >> 20} MiB, no record the trainer "
                    "writes; the run's rows cannot be split at the checkpoint: move the file aside"
                )
            yield line if line.endswith(b"\n") else line + b"\n"


def _later(line: bytes, step: int) -> bool:
    try:
        row = json.loads(line)
    except (ValueError, RecursionError):  # torn, or nested past the parser: no step
        row = None
    return not isinstance(row, dict) or (isinstance(row.get("step"), int) and row["step"] > step)


def _split_file(path: Path, step: int, dest: Path) -> None:
    """The lines after `step` to DEST, the others kept in PATH: both written and synced before PATH
    is replaced, so a crash in between leaves rows twice, never nowhere."""
    tmp = path.with_name(path.name + ".tmp")
    with open(dest, "wb") as moved, open(tmp, "wb") as kept:
        for line in _lines(path):
            (moved if _later(line, step) else kept).write(line)
        for f in (moved, kept):
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)


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
    lrs = (
        [base * fn(sched.last_epoch) for base, fn in zip(sched.base_lrs, sched.lr_lambdas)]
        if hasattr(sched, "lr_lambdas")
        else list(sched.base_lrs)
    )
    for group, lr in zip(trainer.optimizer.param_groups, lrs):
        group["lr"] = lr
    sched._last_lr = list(lrs)  # what Trainer logs as learning_rate for the next step


def prepare_run_dir(spec, run_dir: Path, files):
    """Create the run dir, write spec.json if this run has none yet (a resumed run keeps its own),
    move aside what came after an earlier checkpoint this run resumes from (`branch_aside`), and
    return the `warn(message, **fields)` every job uses: a warning event plus one stderr line."""
    import sys

    from jobs import rundir

    run_dir.mkdir(parents=True, exist_ok=True)
    files.check_files()
    if not (run_dir / rundir.SPEC).exists():
        spec.write(run_dir)
    branch_aside(spec, run_dir, files)

    def warn(message: str, **fields) -> None:
        files.event("warning", message=message, **fields)
        print(f"trainer: warning: {message}", file=sys.stderr)

    return warn
