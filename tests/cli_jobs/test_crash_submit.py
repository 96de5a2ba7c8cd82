"""A submit killed half-way leaves neither a lost nor a duplicated job: the registry row is
written before the backend is called, and the next `arcctl ls` resolves it from the backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.registry import Registry
from tests.cli_jobs.conftest import run_cli, wait_for


def _jobs():
    return json.loads(run_cli("ls", "--json", check=True).stdout)


@pytest.mark.timeout(90)
def test_crash_after_launch_before_registry_update(home):
    res = run_cli("submit", "fake", env={"ARCCTL_FAULT": "after_backend"})
    assert res.returncode == 70  # died between backend.submit and registry.confirm
    reg = Registry()
    [row] = reg.list()
    assert row.state == "submitting" and row.backend_job_id is None
    reg.close()
    job = wait_for(lambda: (lambda js: js[0] if js[0]["state"] == "completed" else None)(_jobs()))
    assert len(_jobs()) == 1  # not duplicated
    assert job["backend_job_id"] == job["run_dir"] and job["exit_code"] == 0  # not lost
    events = (Path(job["run_dir"]) / "events.jsonl").read_text()
    assert events.count('"started"') == 1  # launched exactly once
    assert [p.name for p in (home / "runs").iterdir()] == ["fake_lr1e-6"]


@pytest.mark.timeout(60)
def test_crash_before_launch(home):
    res = run_cli("submit", "fake", env={"ARCCTL_FAULT": "before_backend"})
    assert res.returncode == 70
    [job] = _jobs()
    assert job["state"] == "failed" and job["reason"] == "submit_interrupted" and "never ran" in job["detail"]
    rd = Path(job["run_dir"])
    assert (rd / "spec.json").exists() and not (rd / "pid").exists()


@pytest.mark.timeout(60)
def test_in_flight_submit_of_a_live_process_is_left_alone(home):
    """recover() must not touch a `submitting` row whose submitting process is still alive."""
    import os

    from jobs.backends.local_wrapper import proc_start_time
    from jobs.spec import JobSpec
    from jobs.submit import recover

    reg = Registry()
    spec = JobSpec(
        kind="grpo",
        name="x",
        template="t",
        params={"model_path": "m", "dataset": "d"},
        run_dir=str(home / "runs" / "x"),
    )
    jid = reg.reserve(spec)
    reg.set_state(jid, "submitting", detail=f"submitting: pid={os.getpid()} start={proc_start_time(os.getpid())}")
    assert recover(reg) == [] and reg.get(jid).state == "submitting"
    reg.set_state(jid, "submitting", detail="submitting: pid=999999999 start=1")
    assert recover(reg) == [jid] and reg.get(jid).state == "failed"


@pytest.mark.timeout(60)
def test_run_dir_taken_between_render_and_submit(home):
    """Another process takes the name after our specs were built: an auto-generated name moves to
    the next suffix, an explicit one fails; the other process's dir is untouched."""
    from jobs.errors import SpecError
    from jobs.submit import build_specs, submit_specs

    reg = Registry()
    specs = build_specs("fake", [], "local", registry=reg)
    Path(specs[0].run_dir).mkdir(parents=True)
    [jid] = submit_specs(specs, reg, rename_on_conflict=True)
    assert reg.get(jid).run_dir == specs[0].run_dir + "-2"
    assert list(Path(specs[0].run_dir).iterdir()) == []
    explicit = build_specs("fake", [], "local", name="mine", registry=reg)
    Path(explicit[0].run_dir).mkdir(parents=True)
    with pytest.raises(SpecError, match="already exists"):
        submit_specs(explicit, reg)
    assert reg.count() == 1
