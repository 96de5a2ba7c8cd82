"""The guard inside a real GRPO run of the tiny model on real ARC tasks (CPU): `python -m trainer run`
with guard=rollback and health thresholds tightened so that the run's own entropy trips a
critical alert at its third logged step (a tiny 8-step run cannot collapse for real). The guard
must save + stop, fork a child from the checkpoint before the first warning with the learning
rate halved, submit it through the real registry and local backend; the child trains, trips
again, and is not rolled back a second time (max_rollbacks=1)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from jobs import rundir
from jobs.spec import JobSpec
from tests.trainer_train.conftest import small_dataset  # noqa: F401  (fixture)
from tests.trainer_train.helpers import grpo_spec, run_trainer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# Entropy "critical" whenever it is within 100x of its baseline, i.e. as soon as a baseline exists:
# baseline = row 3 (after skipping 2), smoothing window 1, no persistence.
TRIP = {"baseline_skip": 2, "baseline_rows": 1, "window": 1, "persist": 1,
        "entropy_low_watch": 100.0, "entropy_low_warning": 100.0, "entropy_low_critical": 100.0}


def wait_for_event(run_dir: Path, event: str, timeout: float) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for e in rundir.read_jsonl(run_dir / rundir.EVENTS) if (run_dir / rundir.EVENTS).exists() else []:
            if e.get("event") == event:
                return e
        time.sleep(1)
    log = (run_dir / rundir.STDERR).read_text()[-3000:] if (run_dir / rundir.STDERR).exists() else "(no stderr.log)"
    raise AssertionError(f"{run_dir}: no {event} event after {timeout} s; stderr tail:\n{log}")


def test_guard_rollback_in_a_real_grpo_run(tmp_path, monkeypatch, tiny_model_dir, small_dataset):
    home = tmp_path / "home"
    monkeypatch.setenv("ARCCTL_HOME", str(home))  # registry + local backend state of this test only
    run_dir = tmp_path / "runs" / "guarded"
    spec = grpo_spec(run_dir, tiny_model_dir, dataset=str(small_dataset), max_steps=8, save_steps=2,
                     logging_steps=1, guard="rollback", max_rollbacks=1, health=TRIP)
    spec.write()
    proc = run_trainer("run", str(run_dir), timeout=280)  # both waits fit the 600 s test timeout
    assert proc.returncode == 0, proc.stderr[-3000:]

    ev = rundir.read_jsonl(run_dir / rundir.EVENTS)
    crit = [e for e in ev if e["event"] == rundir.EV_COLLAPSE and e["severity"] == "critical"]
    assert crit and crit[0]["action"] == "rollback" and crit[0]["step"] == 3
    stopped = [e for e in ev if e["event"] == rundir.EV_STOPPED]
    assert stopped and stopped[-1]["reason"] == "collapse" and stopped[-1]["step"] == 3
    assert (run_dir / "checkpoint-3").is_dir()  # saved on the way out
    [rb] = [e for e in ev if e["event"] == rundir.EV_ROLLBACK]
    assert rb["status"] == "submitted", rb
    assert rb["checkpoint"] == "checkpoint-2"

    child_dir = Path(rb["child_run_dir"])
    child = JobSpec.read(child_dir)
    assert child.parent.run_dir == str(run_dir) and child.parent.checkpoint == "checkpoint-2"
    assert child.resume_from.checkpoint == "checkpoint-2"
    assert child.params["learning_rate"] == pytest.approx(spec.params["learning_rate"] * 0.5)
    assert child.params["beta"] == pytest.approx(spec.params["beta"] * 2)

    from jobs.registry import Registry

    job = Registry().get(rb["job_id"])
    assert job.run_dir == str(child_dir) and job.parent == str(run_dir)

    # the child really trains from checkpoint-2, trips again, and stops without a second rollback
    stop = wait_for_event(child_dir, rundir.EV_STOPPED, timeout=280)
    assert stop["reason"] == "collapse"
    started = [e for e in rundir.read_jsonl(child_dir / rundir.EVENTS) if e["event"] == rundir.EV_STARTED]
    assert started and started[0]["step"] == 2
    [refused] = [e for e in rundir.read_jsonl(child_dir / rundir.EVENTS) if e["event"] == rundir.EV_ROLLBACK]
    assert refused["status"] == "refused"
