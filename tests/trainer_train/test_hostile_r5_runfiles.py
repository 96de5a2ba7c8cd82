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


@pytest.mark.parametrize(
    "name, make, says",
    [
        (rundir.METRICS, _fifo, "a FIFO"),
        (rundir.COMPLETIONS, _folder, "a folder"),
        (rundir.METRICS, _dangling, "a link to nothing"),
        (rundir.COMPLETIONS, _null, "a device"),
        (rundir.EVENTS, _fifo, "a FIFO"),
    ],
)
def test_a_telemetry_file_that_is_no_regular_file_stops_the_job_with_one_line(
    tmp_path, small_grpo_spec, name, make, says
):
    run_dir = tmp_path / "run"
    small_grpo_spec(run_dir, max_steps=1).write()
    make(run_dir / name)
    proc = run_trainer("run", str(run_dir), timeout=120)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("trainer:")]
    assert lines == [f"trainer: error: {run_dir / name}: {says}" + lines[0].split(says, 1)[1]], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    if name != rundir.EVENTS:
        assert events(run_dir)[-1]["message"].startswith(f"{run_dir / name}: {says}")
    assert not (run_dir / "nowhere").exists() and not list(run_dir.glob("checkpoint-*"))


@pytest.mark.parametrize("make", [_fifo, _folder])
def test_a_spec_file_that_is_no_regular_file_is_one_line(tmp_path, make):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    make(run_dir / rundir.SPEC)
    proc = run_trainer("run", str(run_dir), timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip() == f"trainer: error: {run_dir / rundir.SPEC}: not a regular file"
