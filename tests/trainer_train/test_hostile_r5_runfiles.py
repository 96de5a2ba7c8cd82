"""Round 5: the files a run appends to (metrics.jsonl, completions.jsonl, events.jsonl) and its
spec.json, found as a FIFO, a folder, a link to nothing or a device in the run dir the job starts
in (a restarted run, a hand-made dir). The job stops before the model loads with one line naming
the file; it used to hang at the first write to a FIFO, or crash with a traceback after the first
training step."""

from __future__ import annotations

import os

import pytest

from jobs import rundir

from .helpers import events, run_trainer

pytestmark = [pytest.mark.timeout(300)]


def _fifo(path):
    os.mkfifo(path)


def _folder(path):
    path.mkdir()


def _dangling(path):
    path.symlink_to(path.parent / "nowhere" / "x.jsonl")


def _null(path):
    path.symlink_to("/dev/null")


@pytest.mark.parametrize("name", [rundir.METRICS, rundir.EVENTS])
def test_a_telemetry_fifo_stops_the_job_with_one_line(tmp_path, small_grpo_spec, name):
    run_dir = tmp_path / "run"
    small_grpo_spec(run_dir, max_steps=1).write()
    _fifo(run_dir / name)
    proc = run_trainer("run", str(run_dir), timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    says = (
        f"trainer: error: {run_dir / name}: a FIFO, not a regular file; the trainer appends its records here: remove it"
    )
    assert [line for line in proc.stderr.splitlines() if line.startswith("trainer:")] == [says]
    if name != rundir.EVENTS:
        assert events(run_dir)[-1]["message"] == says.removeprefix("trainer: error: ")
    assert not list(run_dir.glob("checkpoint-*"))


@pytest.mark.parametrize(
    "name, make, says",
    [
        (rundir.COMPLETIONS, _folder, "a folder"),
        (rundir.METRICS, _dangling, "a link to nothing"),
        (rundir.COMPLETIONS, _null, "a device or socket"),
    ],
)
def test_other_telemetry_files_that_are_no_regular_file_are_named_before_the_model_loads(tmp_path, name, make, says):
    from jobs.errors import SpecError
    from jobs.spec import JobSpec
    from trainer import lifecycle
    from trainer.runfiles import RunFiles

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    make(run_dir / name)
    spec = JobSpec(
        kind="grpo", name="r", template="grpo", run_dir=str(run_dir), params={"model_path": "m", "dataset": "d"}
    )
    files = RunFiles(run_dir, enabled=True)
    with pytest.raises(SpecError) as err:
        lifecycle.prepare_run_dir(spec, run_dir, files)
    assert str(err.value).startswith(f"{run_dir / name}: {says}")
    with pytest.raises(SpecError):  # and never at a write, had the start not checked
        files.metric(1, {"loss": 1.0}) if name == rundir.METRICS else files.completions([])
    files.close()
    assert not (run_dir / "nowhere").exists()


@pytest.mark.parametrize("make", [_fifo, _folder])
def test_a_spec_file_that_is_no_regular_file_is_one_line(tmp_path, make):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    make(run_dir / rundir.SPEC)
    proc = run_trainer("run", str(run_dir), timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip() == f"trainer: error: {run_dir / rundir.SPEC}: not a regular file"
