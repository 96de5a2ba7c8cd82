"""Auto-resume policy and memory bump; end to end through the registry, the shared watcher and the
HTCondor command path (the condor_* STAND-IN over the real sshd: no HTCondor pool runs in CI),
and through the real Slurm for crash recovery (`find`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.backends.base import JobState, JobStatus
from jobs.backends.condor_events import history_status, read_event_log
from jobs.errors import SpecError
from jobs.recovery import ResumePolicy, apply_policy, classify, decide, memory_after_hold, memory_bump, resubmit
from jobs.registry import Registry
from jobs.submit import submit_spec
from jobs.watcher import StatusWatcher
from tests.clusters import condor_standin as standin
from tests.clusters.test_htcondor import GOLDEN, grpo_seed

HELD = history_status(read_event_log(str(GOLDEN / "events_story.log"))["237770.0"])


def test_policy_from_profile_options():
    assert ResumePolicy.from_options({}) == ResumePolicy(enabled=False)
    p = ResumePolicy.from_options({"auto_resume": True, "max_restarts": 5})  # the example profiles' spelling
    assert p.enabled and p.max_restarts == 5 and "memory_exceeded" in p.reasons
    p = ResumePolicy.from_options({"auto_resume": {"max_restarts": 1, "reasons": ["evicted"], "max_memory": "256G"}})
    assert (p.max_restarts, p.reasons, p.max_memory_mb) == (1, ("evicted",), 256 * 1024)
    with pytest.raises(SpecError, match=r"profile calculon: auto_resume.reasons \['segfault'\]"):
        ResumePolicy.from_options({"auto_resume": {"reasons": ["segfault"]}}, "profile calculon")
    with pytest.raises(SpecError, match="max_restarts"):
        ResumePolicy.from_options({"auto_resume": True, "max_restarts": -1})


def test_classify_and_decide():
    spec = grpo_seed()  # request_memory 128G
    on = ResumePolicy(enabled=True, max_restarts=2)
    assert classify(HELD) == "memory_exceeded"
    d = decide(spec, HELD, 0, on)
    # used 131500 MB (128.4G) -> 1.5x rounded up to whole GB
    assert (d.action, d.memory) == ("resubmit", "193G")
    assert decide(spec, HELD, 2, on).action == "give_up"
    assert decide(spec, HELD, 0, ResumePolicy()).action == "none"
    evicted = JobStatus(JobState.EVICTED, reason="evicted")
    assert decide(spec, evicted, 0, on).action == "wait"  # the scheduler brings it back itself
    assert decide(spec, JobStatus(JobState.FAILED, 1, "nonzero_exit"), 0, on).action == "none"
    assert decide(spec, JobStatus(JobState.FAILED, None, "preempted"), 0, on).action == "resubmit"
    assert decide(spec, JobStatus(JobState.COMPLETED, 0), 0, on).action == "none"
    capped = ResumePolicy(enabled=True, max_memory_mb=160 * 1024)
    assert decide(spec, HELD, 0, capped).memory == "160G"
    at_cap = grpo_seed(memory="160G")
    assert decide(at_cap, HELD, 0, capped).action == "give_up"
    # no usage figure at all: 1.5x the request
    assert memory_bump(spec, JobStatus(JobState.HELD, reason="memory_exceeded")) == "192G"


def test_memory_for_a_manual_resume():
    spec = grpo_seed()
    assert memory_after_hold(spec, "memory_exceeded", HELD.detail) == "193G"  # what the status line said
    assert memory_after_hold(spec, "memory_exceeded", None) == "192G"  # 1.5x the request
    assert memory_after_hold(spec, "memory_exceeded", "request_memory=64G") == "192G"  # never lower
    assert memory_after_hold(spec, "evicted", HELD.detail) is None


def _checkpoint(run: Path, step: int) -> None:
    ck = run / f"checkpoint-{step}"
    ck.mkdir(parents=True)
    (ck / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (ck / "adapter_model.safetensors").write_bytes(b"w")


def _oom_spec(run: Path, bindir: Path, **options):
    """The run `oom` on testhost, submitted through the HTCondor stand-in installed in `bindir`."""
    options = {"bin_dir": str(bindir), "docker_image": "img", **options}
    return grpo_seed(name="oom").model_copy(
        update={"run_dir": str(run), "host": "testhost", "backend_options": options}
    )


@pytest.mark.sshd
@pytest.mark.timeout(120)
def test_memory_hold_is_resubmitted_with_more_memory_from_the_checkpoint(ssh_config, tmp_path):
    state, bindir = tmp_path / "state", tmp_path / "bin"
    standin.install(bindir, state)
    reg = Registry(tmp_path / "registry.db")
    run = tmp_path / "runs" / "oom"
    spec = _oom_spec(run, bindir, auto_resume=True, max_restarts=2)
    jid = submit_spec(spec, reg)
    old = reg.get(jid).backend_job_id
    assert old == "1000.0"
    _checkpoint(run, 200)
    _checkpoint(run, 400)
    # a hold that needs a human (held by the user) is left alone by the policy
    standin.set_job(state, old, JobStatus=5, HoldReasonCode=1, HoldReason="via condor_hold (by user root)")
    watcher = StatusWatcher(reg, "htcondor", "testhost")
    updates = watcher.poll(force=True)
    assert updates[jid].state is JobState.HELD and watcher.last_actions == []
    assert reg.get(jid).restarts == 0 and reg.get(jid).backend_job_id == old

    standin.set_job(
        state,
        old,
        JobStatus=5,
        HoldReasonCode=34,
        HoldReasonSubCode=0,
        MemoryUsage=131500,
        HoldReason="Job has gone over cgroup memory limit of 131072 megabytes.",
    )
    # the poll itself applies the profile's auto_resume policy (no caller has to remember to)
    updates = watcher.poll(force=True)
    assert updates[jid].state is JobState.HELD and updates[jid].reason == "memory_exceeded"
    assert "request_memory=193G" in (updates[jid].detail or "")
    assert watcher.last_actions == [f"{jid} (oom): resubmitting after memory_exceeded with request_memory=193G"]
    job = reg.get(jid)
    assert job.restarts == 1 and job.backend_job_id == "1001.0" and job.state == "queued"
    assert job.spec().resources.memory == "193G"
    assert job.spec().resume_from.checkpoint == "checkpoint-400"
    assert "request_memory = 193G" in (run / "job.sub").read_text()
    on_disk = json.loads((run / "spec.json").read_text())  # written on the remote side through SFTP
    assert on_disk["resume_from"]["checkpoint"] == "checkpoint-400"
    assert ["condor_rm", old] in standin.calls(state)  # the held one does not linger in the queue
    # the next poll sees the new attempt queued: nothing more happens
    watcher.poll(force=True)
    assert watcher.last_actions == [] and reg.get(jid).restarts == 1

    # held again after 2 restarts (max_restarts=2): the policy stops and says why
    for i in range(2):
        bid = reg.get(jid).backend_job_id
        standin.set_job(
            state, bid, JobStatus=5, HoldReasonCode=34, HoldReason="memory limit exceeded", MemoryUsage=200000
        )
        watcher.poll(force=True)
    lines = watcher.last_actions
    assert reg.get(jid).restarts == 2 and "not resuming" in lines[0] and "max_restarts=2" in lines[0]
    # apply_policy on its own (what the watcher calls) is idempotent at the cap
    assert "not resuming" in apply_policy(reg, {jid: watcher.poll(force=True)[jid]})[0]

    # by hand (what `arcctl resume` can call): a chosen checkpoint and the suggested memory
    job = reg.get(jid)
    mem = memory_after_hold(job.spec(), job.reason, job.detail)
    assert mem == "440G"  # 1.5 x the 293G the last attempt asked for (it used less: 200000 MB)
    resubmit(reg, job, mem, checkpoint="200")
    job = reg.get(jid)
    assert job.restarts == 3 and job.spec().resume_from.checkpoint == "checkpoint-200"
    assert "request_memory = 440G" in (run / "job.sub").read_text()


@pytest.mark.slurm
@pytest.mark.timeout(60)
def test_slurm_find_recovers_a_submit_the_registry_never_heard_of(slurm, tmp_path):
    from jobs.backends.slurm import SlurmBackend
    from tests.clusters.conftest import make_spec

    b = SlurmBackend({"slurm_conf": str(slurm.conf)})
    spec = make_spec(tmp_path / "crashy", "crashy", env={"FAKE_STEPS": 1, "FAKE_STEP_S": 0})
    assert b.find(spec) is None
    job = b.submit(spec)
    assert b.find(spec) == job
    other = make_spec(tmp_path / "elsewhere", "crashy")  # same name, other run dir
    assert b.find(other) is None


@pytest.mark.slurm
@pytest.mark.timeout(90)
def test_slurm_trainer_failure_is_not_auto_resumed(slurm, tmp_path):
    """A non-zero exit of the trainer needs a human: the watcher's policy leaves it failed."""
    from tests.clusters.conftest import make_spec, wait_for

    reg = Registry(tmp_path / "registry.db")
    spec = make_spec(tmp_path / "bad", "bad", env={"FAKE_STEPS": 1, "FAKE_STEP_S": 0, "FAKE_EXIT": 3})
    spec = spec.model_copy(update={"backend_options": {"slurm_conf": str(slurm.conf), "auto_resume": True}})
    jid = submit_spec(spec, reg)
    watcher = StatusWatcher(reg, "slurm")

    def failed():
        watcher.poll(force=True)
        return reg.get(jid).state == "failed"

    wait_for(failed, timeout=60, interval=0.5, what="the slurm job failed")
    job = reg.get(jid)
    assert (job.reason, job.exit_code, job.restarts) == ("nonzero_exit", 3, 0)
    assert watcher.last_actions == []


@pytest.mark.sshd
@pytest.mark.timeout(120)
def test_cli_resume_after_a_memory_hold_asks_for_more_memory(ssh_config, tmp_path):
    """`arcctl resume` of a job held for memory (the row as the HTCondor watcher writes it): the held
    job is removed from the queue and the new attempt requests what the status line suggested."""
    import os
    import subprocess
    import sys

    state, bindir, home = tmp_path / "state", tmp_path / "bin", tmp_path / "home"
    standin.install(bindir, state)
    env = {**os.environ, "ARCCTL_HOME": str(home), "ARCCTL_SSH_CONFIG": str(ssh_config)}
    reg = Registry(home / "registry.sqlite")
    run = tmp_path / "runs" / "oom"
    spec = _oom_spec(run, bindir)  # auto_resume off
    jid = submit_spec(spec, reg)
    _checkpoint(run, 200)
    standin.set_job(
        state,
        "1000.0",
        JobStatus=5,
        HoldReasonCode=34,
        HoldReasonSubCode=0,
        MemoryUsage=131500,
        HoldReason="Job has gone over cgroup memory limit of 131072 megabytes.",
    )
    StatusWatcher(reg, "htcondor", "testhost").poll(force=True)
    job = reg.get(jid)
    assert (job.state, job.reason, job.restarts) == ("held", "memory_exceeded", 0)
    assert "resubmit with request_memory=193G" in job.detail

    arcctl = str(Path(sys.executable).parent / "arcctl")
    res = subprocess.run([arcctl, "resume", jid], capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    assert "resumed from checkpoint-200" in res.stdout and "request_memory 128G -> 193G" in res.stdout
    job = reg.get(jid)
    assert (job.restarts, job.backend_job_id, job.state) == (1, "1001.0", "queued")
    assert job.spec().resources.memory == "193G"
    assert "request_memory = 193G" in (run / "job.sub").read_text()
    tools = [c[0] for c in standin.calls(state)]
    # removed before its successor was submitted
    assert tools.index("condor_rm") < len(tools) - 1 - tools[::-1].index("condor_submit")
    assert ["condor_rm", "1000.0"] in standin.calls(state)

    # a queued job is still refused (it would run twice)
    res = subprocess.run([arcctl, "resume", jid], capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 2 and "is queued; cancel it before resuming" in res.stderr


@pytest.mark.sshd
@pytest.mark.timeout(120)
def test_cli_ls_poll_auto_resumes_and_says_so(ssh_config, tmp_path):
    """The poll behind `arcctl ls` applies the profile's auto_resume and reports what it did."""
    import os
    import subprocess
    import sys

    state, bindir, home = tmp_path / "state", tmp_path / "bin", tmp_path / "home"
    standin.install(bindir, state)
    env = {**os.environ, "ARCCTL_HOME": str(home), "ARCCTL_SSH_CONFIG": str(ssh_config)}
    reg = Registry(home / "registry.sqlite")
    spec = grpo_seed(name="oom").model_copy(
        update={
            "run_dir": str(tmp_path / "runs" / "oom"),
            "host": "testhost",
            "backend_options": {"bin_dir": str(bindir), "docker_image": "img", "auto_resume": True},
        }
    )
    jid = submit_spec(spec, reg)
    standin.set_job(
        state,
        "1000.0",
        JobStatus=5,
        HoldReasonCode=34,
        MemoryUsage=131500,
        HoldReason="Job has gone over cgroup memory limit of 131072 megabytes.",
    )
    arcctl = str(Path(sys.executable).parent / "arcctl")
    res = subprocess.run([arcctl, "ls"], capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    assert f"auto-resume: {jid} (oom): resubmitting after memory_exceeded with request_memory=193G" in res.stderr
    job = reg.get(jid)
    assert (job.restarts, job.backend_job_id, job.spec().resources.memory) == (1, "1001.0", "193G")
