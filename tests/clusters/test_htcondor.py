"""HTCondor backend. No HTCondor pool can run in CI: submit descriptions are checked with the real
htcondor2.Submit parser, event logs are parsed by the real htcondor2.JobEventLog, and the command
path (condor_submit/condor_q/condor_history/condor_rm over SSH) runs against a STAND-IN
(tests/clusters/condor_standin.py) on the real loopback sshd."""

from __future__ import annotations

from pathlib import Path

import pytest

htcondor2 = pytest.importorskip("htcondor2", reason="the HTCondor bindings (pip install arcctl[condor])")

from jobs.backends.base import BackendError, JobState  # noqa: E402
from jobs.backends.condor_events import read_event_log, history_status
from jobs.backends.htcondor import HTCondorBackend, make_backend, parse_cluster_id, validate_submit
from jobs.ssh_transport import SSHPool
from jobs.scheduler_shell import LocalShell, SSHShell
from jobs.spec import JobSpec
from tests.clusters import condor_standin as standin
from tests.clusters.test_slurm_local import check_golden

GOLDEN = Path(__file__).parent / "golden"
MACHINE = '(TARGET.Machine == "calculon21.das-nano.com")'


def grpo_seed(memory="128G", gpus=1, cpus=20, kind="grpo", name="lr2e-6_epochs100_32gen_4accum-steps_32lora"):
    return JobSpec(
        kind=kind,
        name=name,
        template=kind,
        params={
            "model_path": "/mnt/scratch/users/gbarbadillo/arc25/models/Llama-3.1-ARC-Potpourri-Induction-8B",
            "dataset": "/mnt/scratch/users/gbarbadillo/arc25/data/arc-prize-2024/arc-agi_training_challenges.json",
        },
        profile="calculon",
        backend="htcondor",
        run_dir=f"/mnt/scratch/users/gbarbadillo/arc25/trainings/2025-09-19-rl-first-steps/{name}",
        resources={"gpus": gpus, "cpus": cpus, "memory": memory, "requirements": MACHINE},
        env={"HF_HOME": "/mnt/scratch/users/gbarbadillo/hf"},
        created="2025-09-19T10:00:00Z",
    )


EVICTED_BODY = (
    "\t(0) Job was not checkpointed.\n"
    "\t\tUsr 0 00:10:00, Sys 0 00:00:10  -  Run Remote Usage\n"
    "\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Run Local Usage\n"
    "\t0  -  Run Bytes Sent By Job\n\t0  -  Run Bytes Received By Job\n"
)

SEEDS = {
    # condor_submit train.condor command="python .../rl_code_finetuning.py ..." -append request_gpus=1
    # -append request_cpus=20 -append request_memory=128G -append 'requirements = (TARGET.Machine == ...)'
    "seed_grpo_docker.sub": (dict(docker_image="gbarbadillo/arc25:cuda12"), grpo_seed()),
    "seed_grpo_vanilla.sub": (
        dict(universe="vanilla", python="/opt/conda/envs/arc25/bin/python", getenv=True),
        grpo_seed(memory="50G"),
    ),
    # the 2-GPU SFT run: request_gpus=2, request_cpus=12, accelerate launch
    "seed_sft_2gpu_docker.sub": (
        dict(docker_image="gbarbadillo/arc25:cuda12", max_retries=2),
        grpo_seed(memory="64G", gpus=2, cpus=12, kind="sft", name="2xA6000-Qwen2.5-Coder-0.5B"),
    ),
}


@pytest.mark.parametrize("golden", sorted(SEEDS))
def test_seed_submit_descriptions_are_golden_and_accepted_by_htcondor(golden):
    opts, spec = SEEDS[golden]
    art = HTCondorBackend(opts).render(spec)
    check_golden(golden, art.text)
    sub = validate_submit(art.text)
    parsed = htcondor2.Submit(art.text)  # the real parser, independently of our validation
    assert parsed["request_cpus"] == str(spec.resources.cpus)
    assert parsed["request_gpus"] == str(spec.resources.gpus)
    assert parsed["request_memory"] == spec.resources.memory
    assert parsed["requirements"] == MACHINE
    assert parsed["log"].startswith(spec.run_dir) and parsed["initialdir"] == spec.run_dir
    assert sub is not None  # our validation accepted it too
    # the job's files all land in its run dir, and the run dir is recorded for status lookups
    assert all(parsed[k].startswith(spec.run_dir) for k in ("output", "error", "log"))
    assert parsed["MY.ArcctlRunDir"].strip('"') == spec.run_dir
    assert f"{spec.run_dir}/spec.json" in parsed["arguments"]
    if spec.resources.gpus > 1:
        assert parsed["arguments"].startswith(
            '"-m accelerate.commands.launch --num_processes 2 --num_machines 1 -m trainer run'
        )


def test_invalid_descriptions_name_the_key():
    spec = grpo_seed()
    with pytest.raises(BackendError, match="periodic_remove"):
        validate_submit(HTCondorBackend({"submit_commands": {"periodic_remove": "((("}}).render(spec).text)
    with pytest.raises(BackendError, match="docker_image"):
        HTCondorBackend({"universe": "docker"}).render(spec)
    with pytest.raises(BackendError, match="no `queue`|parse"):
        validate_submit("executable = /bin/true\nlog = /tmp/x.log\n")
    with pytest.raises(BackendError, match="univers"):
        make_backend({"univers": "docker"}, None)


def test_cluster_id_parsing():
    assert parse_cluster_id("Submitting job(s).\n1 job(s) submitted to cluster 237770.\n", "h") == "237770.0"
    assert parse_cluster_id("245114.0 - 245114.0\n", "h") == "245114.0"
    with pytest.raises(Exception, match="no cluster id"):
        parse_cluster_id("ERROR: on Line 3 of submit file", "submit.das-nano.com")


def test_event_log_story_through_htcondor2_jobeventlog():
    jobs = {j: history_status(h) for j, h in read_event_log(str(GOLDEN / "events_story.log")).items()}
    held = jobs["237770.0"]
    assert (held.state, held.reason) == (JobState.HELD, "memory_exceeded")
    assert held.extra["memory_used_mb"] == 131500 and held.extra["request_memory_mb"] == 131072
    assert held.extra["evictions"] == 1 and held.extra["starts"] == 2
    assert "used 128.4G of the 128G requested" in held.detail and "request_memory=193G" in held.detail
    assert (jobs["237771.0"].state, jobs["237771.0"].exit_code) == (JobState.COMPLETED, 0)
    assert jobs["237772.0"].state is JobState.EVICTED and "calculon23" in jobs["237772.0"].detail
    assert jobs["237773.0"].state is JobState.CANCELLED
    assert (jobs["237774.0"].state, jobs["237774.0"].exit_code) == (JobState.FAILED, 3)


def test_no_schedd_here_bindings_path_says_so(tmp_path):
    b = HTCondorBackend({"submit_method": "bindings"})
    spec = grpo_seed().model_copy(update={"run_dir": str(tmp_path / "r")})
    with pytest.raises(BackendError, match="no HTCondor schedd reachable"):
        b.submit(spec)


def test_local_cli_fallback_with_the_standin(tmp_path):
    """auto: no schedd through the bindings -> condor_submit on PATH (here: the stand-in in bin_dir)."""
    standin.install(tmp_path / "bin", tmp_path / "state")
    b = HTCondorBackend({"bin_dir": str(tmp_path / "bin"), "docker_image": "img"}, shell=LocalShell())
    spec = grpo_seed().model_copy(update={"run_dir": str(tmp_path / "run")})
    assert b.find(spec) is None
    job = b.submit(spec)
    assert job == "1000.0" and (tmp_path / "run" / "job.sub").exists()
    assert b.status([job])[job].state is JobState.QUEUED
    # crash recovery: the job is found by its run dir (and only by it)
    assert b.find(spec) == job
    assert b.find(spec.model_copy(update={"run_dir": str(tmp_path / "other")})) is None


@pytest.mark.sshd
@pytest.mark.timeout(120)
def test_condor_over_ssh_with_standin(ssh_config, tmp_path):
    state, bindir = tmp_path / "state", tmp_path / "bin"
    standin.install(bindir, state)
    pool = SSHPool()
    b = HTCondorBackend(
        {"bin_dir": str(bindir), "docker_image": "img"}, host="testhost", shell=SSHShell("testhost", pool)
    )
    specs = [grpo_seed(name=f"j{i}").model_copy(update={"run_dir": str(tmp_path / f"run{i}")}) for i in range(3)]
    ids = [b.submit(s) for s in specs]
    assert ids == ["1000.0", "1001.0", "1002.0"]
    assert (tmp_path / "run0" / "job.sub").read_text() == b.render(specs[0]).text  # written through SFTP

    n = len(standin.calls(state))
    st = b.status(ids)
    assert len(standin.calls(state)) - n == 1  # one condor_q for all three jobs
    assert all(s.state is JobState.QUEUED for s in st.values())

    exec_ev = (1, "Job executing on host: <10.0.0.21:9618?addrs=10.0.0.21-9618&alias=calculon21.das-nano.com>", "")
    standin.set_job(state, ids[0], JobStatus=2, NumJobStarts=1, event=exec_ev)
    standin.set_job(
        state,
        ids[0],
        event=(
            6,
            "Image size of job updated: 134217728",
            "\t140000  -  MemoryUsage of job (MB)\n\t134656000  -  ResidentSetSize of job (KB)\n",
        ),
    )
    standin.set_job(
        state,
        ids[0],
        JobStatus=5,
        HoldReasonCode=34,
        HoldReasonSubCode=0,
        MemoryUsage=120000,
        HoldReason="Error from slot1_1@calculon21.das-nano.com: Job has gone over cgroup memory limit "
        "of 131072 megabytes.",
        event=(
            12,
            "Job was held.",
            "\tError from slot1_1@calculon21: Job has gone over cgroup memory "
            "limit of 131072 megabytes.\n\tCode 34 Subcode 0\n",
        ),
    )
    standin.set_job(state, ids[1], JobStatus=2, NumJobStarts=1, event=exec_ev)
    standin.set_job(state, ids[1], JobStatus=1, event=(4, "Job was evicted.", EVICTED_BODY))
    st = b.status(ids)
    held = st[ids[0]]
    assert (held.state, held.reason) == (JobState.HELD, "memory_exceeded")
    # the peak from the event log (140000 MB, read over SFTP) beats the ad's last MemoryUsage
    assert held.extra["memory_used_mb"] == 140000 and held.extra["request_memory_mb"] == 131072
    assert "used 136.7G of the 128G requested" in held.detail and "request_memory=206G" in held.detail
    assert st[ids[1]].state is JobState.EVICTED and st[ids[1]].extra["evictions"] == 1
    assert st[ids[2]].state is JobState.QUEUED

    b.cancel(ids[2])
    n = len(standin.calls(state))
    st = b.status(ids)
    assert st[ids[2]].state is JobState.CANCELLED  # from condor_history once it left the queue
    assert len(standin.calls(state)) - n == 2  # condor_q + one condor_history for the missing
    assert b.status_from_log(str(tmp_path / "run2" / "condor.log"))[ids[2]].state is JobState.CANCELLED
    pool.close()


def test_a_torn_or_garbled_event_log_keeps_what_came_before(tmp_path):
    text = (GOLDEN / "events_story.log").read_text()
    cut = text.index("012 (237770")  # the hold event is being written as we read
    (tmp_path / "torn.log").write_text(text[:cut] + "012 (237770.000.000) 2025-09-19 12:00:00 Job was he")
    jobs = read_event_log(str(tmp_path / "torn.log"))
    assert jobs["237770.0"].state is JobState.RUNNING and jobs["237770.0"].memory_used_mb == 131500
    (tmp_path / "garbled.log").write_text(text[:cut] + "this is not an event\n...\n" + text[cut:])
    jobs = read_event_log(str(tmp_path / "garbled.log"))
    assert jobs["237770.0"].evictions == 1  # everything up to the garbage
