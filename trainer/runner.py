"""The one job runner: exit codes, the `error` / `stopped` events of a failed job, and going on
in a rollback child in the same process.

Exit codes: 0 done (or stopped cleanly on a signal), 2 user error (one line on stderr), 1 crash
(traceback in stderr.log), 130 a second Ctrl-C (aborted without saving).
"""

from __future__ import annotations

import gc
import sys
import traceback
from pathlib import Path
from typing import Callable

from jobs import lineage, records, rundir
from jobs.errors import JobsError
from trainer.runfiles import RunFiles

EXIT_OK = 0
EXIT_CRASH = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def run_job(body: Callable[[RunFiles], int | None], run_dir: str | Path) -> int:
    """Run one job's body with the run dir's writer, turning what it raises into an event, one
    stderr line and an exit code. A ValueError before `started` is TRL/transformers/the sandbox
    refusing a setting (a user error); after it, a bug whose traceback is kept."""
    files = RunFiles(run_dir)
    try:
        return int(body(files) or EXIT_OK)
    except (JobsError, ValueError) as e:
        if not isinstance(e, JobsError) and files.has_started:
            return _crash(files, e)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        files.final_event(records.EV_ERROR, message=msg, kind=type(e).__name__)
        print(f"trainer: error: {msg}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:  # a second Ctrl-C: abort without saving
        files.final_event(records.EV_STOPPED, reason="interrupted")
        print("trainer: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # a bug or a crash (OOM, CUDA)
        return _crash(files, e)
    finally:
        files.close()


def _crash(files: RunFiles, e: Exception) -> int:
    files.final_event(records.EV_ERROR, message=f"{type(e).__name__}: {e}", kind=type(e).__name__)
    traceback.print_exc()
    print(f"trainer: crashed: {type(e).__name__}: {e}", file=sys.stderr)
    return EXIT_CRASH


def error_event(run_dir: Path, message: str) -> None:
    """An `error` event for a job that never got to run (its spec is unreadable)."""
    if run_dir.is_dir():
        files = RunFiles(run_dir, enabled=True)
        files.final_event(records.EV_ERROR, message=message)
        files.close()


def stopped_by_signal(run_dir: str | Path) -> bool:
    """The run's last `stopped` event says a preemption signal stopped it."""
    stops = [e for e in rundir.read_jsonl(Path(run_dir) / rundir.EVENTS) if e.get("event") == records.EV_STOPPED]
    return bool(stops and stops[-1].get("signal"))


def run_chain(run_dir: Path, run_one: Callable[[Path], int]) -> int:
    """Run the job in `run_dir`, then each rollback child it hands over to, in this process.

    A run dir that already rolled back (a requeued job) starts at the newest child: the collapsed
    parent is never trained on again. A run stopped by a signal does not go on: the requeued job
    will, from the child's own checkpoints.
    """
    current = Path(lineage.rollback_chain(str(run_dir))[-1])
    if _bad_rollback(current):  # it rolled back, to where cannot be told: train neither
        return EXIT_USER_ERROR
    while True:
        code = run_one(current)
        child = lineage.rollback_child(str(current))
        if code != EXIT_OK or child is None or stopped_by_signal(current):
            return code
        _free_accelerator_memory()
        current = Path(child)


def _bad_rollback(run_dir: Path) -> bool:
    """The run's rollback event names a child that is no folder beside it (`../../x`, another
    user's run, a link): one line and an error event. Going on there would train in a folder this
    run never wrote; training the run itself would train the collapsed parent again."""
    why = lineage.rollback_problem(str(run_dir))
    if not why:
        return False
    msg = (
        f"{run_dir / rundir.EVENTS}: rollback event: {why}; not followed, and the rolled-back run is not trained again"
    )
    error_event(run_dir, msg)
    print(f"trainer: error: {msg}", file=sys.stderr)
    return True


def _free_accelerator_memory() -> None:
    """The finished run's model and optimizer are unreachable now; give their GPU memory back
    before the child loads its own."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
