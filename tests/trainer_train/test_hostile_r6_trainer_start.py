"""Round 6: specs the trainer is given but has no entry for. A `command` job's spec.json (its
program is params.args, run by the backend's job script) given to `python -m trainer run`, by
hand or as a rollback child, was a KeyError traceback; it is one line naming the run and an
`error` event, exit 2."""

from __future__ import annotations

from jobs import records
from tests.tiny_params import job_spec
from trainer.runfiles import RunFiles

from .helpers import events, run_trainer


def _says(where) -> str:
    return (
        f"trainer: error: {where}: kind 'command' is not run by the trainer (it runs eval, grpo, grpo-refine, her, sft)"
    )


def test_a_command_spec_is_one_line_not_a_traceback(tmp_path):
    run_dir = tmp_path / "run"
    job_spec("command", run_dir, {"args": ["true"]}).write()
    proc = run_trainer("run", str(run_dir), timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert [line for line in proc.stderr.splitlines() if line.strip()] == [_says(run_dir)]
    assert events(run_dir)[-1]["event"] == "error"


def test_a_rollback_child_that_is_a_command_spec_is_one_line(tmp_path):
    """The chain's newest run is where a requeued job starts: it is checked the same way."""
    parent, child = tmp_path / "a", tmp_path / "a_fork2"
    job_spec("grpo", parent, {"model_path": "tiny", "dataset": "arc1/train"}).write()
    job_spec("command", child, {"args": ["true"]}).write()
    files = RunFiles(parent, enabled=True)
    files.event(records.EV_ROLLBACK, step=3, status=records.ROLLBACK_CONTINUED, child_run_dir=str(child))
    files.close()
    proc = run_trainer("run", str(parent), timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert [line for line in proc.stderr.splitlines() if line.strip()] == [_says(child)]
