"""The guard inside a real GRPO run of the tiny model on real ARC tasks (CPU): `python -m trainer run`
with guard=rollback and health thresholds tightened so that the run's own entropy trips a
critical alert at its third logged step (a tiny 8-step run cannot collapse for real). The guard
must save + stop, write a child run dir forked from the checkpoint before the first warning with
the learning rate halved, and the same process must go on training in it (no job is submitted);
the child trips again and is not rolled back a second time (max_rollbacks=1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs import lineage, rundir
from jobs.records import check_run_dir
from jobs.spec import JobSpec
from tests.trainer_train.conftest import small_dataset, small_grpo_spec  # noqa: F401  (fixtures)
from tests.trainer_train.helpers import ENTROPY_TRIP, run_trainer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_guard_rollback_in_a_real_grpo_run(tmp_path, monkeypatch, small_grpo_spec):
    home = tmp_path / "home"
    monkeypatch.setenv("ARCCTL_HOME", str(home))  # registry + local backend state of this test only
    run_dir = tmp_path / "runs" / "guarded"
    spec = small_grpo_spec(
        run_dir, max_steps=8, save_steps=2, logging_steps=1, guard="rollback", max_rollbacks=1, health=ENTROPY_TRIP
    )
    spec.write()
    proc = run_trainer("run", str(run_dir), timeout=540)  # parent and child, within the 600 s test timeout
    assert proc.returncode == 0, proc.stderr[-3000:]

    ev = rundir.read_jsonl(run_dir / rundir.EVENTS)
    crit = [e for e in ev if e["event"] == rundir.EV_COLLAPSE and e["severity"] == "critical"]
    assert crit and crit[0]["action"] == "rollback" and crit[0]["step"] == 3
    stopped = [e for e in ev if e["event"] == rundir.EV_STOPPED]
    assert stopped and stopped[-1]["reason"] == "collapse" and stopped[-1]["step"] == 3
    assert (run_dir / "checkpoint-3").is_dir()  # saved on the way out
    [rb] = [e for e in ev if e["event"] == rundir.EV_ROLLBACK]
    assert rb["status"] == "continued", rb
    assert rb["checkpoint"] == "checkpoint-2"

    child_dir = Path(rb["child_run_dir"])
    child = JobSpec.read(child_dir)
    assert child.parent.run_dir == str(run_dir) and child.parent.checkpoint == "checkpoint-2"
    assert child.resume_from.checkpoint == "checkpoint-2"
    assert child.params["learning_rate"] == pytest.approx(spec.params["learning_rate"] * 0.5)
    assert child.params["beta"] == pytest.approx(spec.params["beta"] * 2)

    assert not list(home.rglob("*.db")) if home.exists() else True  # the trainer launched nothing

    # the same process trained the child from checkpoint-2; it tripped again and stopped without
    # a second rollback
    child_ev = rundir.read_jsonl(child_dir / rundir.EVENTS)
    started = [e for e in child_ev if e["event"] == rundir.EV_STARTED]
    assert (
        started
        and started[0]["step"] == 2
        and started[0]["pid"] == next(e for e in ev if e["event"] == rundir.EV_STARTED)["pid"]
    )
    stop = [e for e in child_ev if e["event"] == rundir.EV_STOPPED]
    assert stop and stop[-1]["reason"] == "collapse"
    [refused] = [e for e in child_ev if e["event"] == rundir.EV_ROLLBACK]
    assert refused["status"] == "refused"
    assert (child_dir / f"checkpoint-{stop[-1]['step']}").is_dir() and not (child_dir / "checkpoint-2").exists()
    # every record both runs wrote (collapse warnings, rollback, refusal included) matches jobs.records
    assert check_run_dir(str(run_dir)) == [] and check_run_dir(str(child_dir)) == []
    # a requeued job (same command) goes on in the child, never in the collapsed parent
    assert lineage.rollback_chain(str(run_dir)) == [str(run_dir), str(child_dir)]
