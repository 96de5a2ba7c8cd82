"""The Slurm backend against a real single-node Slurm (slurmctld + slurmd + munge) on this host."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from jobs.backends.base import JobState
from jobs.backends.slurm import SlurmBackend, make_backend
from jobs.rundir import EVENTS, METRICS, JsonlTail, read_jsonl
from jobs.scheduler_shell import CommandError
from tests import golden
from tests.clusters.conftest import make_spec, wait_after_requeue, wait_for

GOLDEN = Path(__file__).parent / "golden"
pytestmark = [pytest.mark.slurm, pytest.mark.timeout(180)]


def check_golden(name: str, text: str) -> None:
    golden.check_golden(GOLDEN / name, text)


def seed_spec(**kw):
    """A real research cluster job: 1 GPU, 20 CPUs, 128G, pinned to calculon21."""
    from jobs.spec import JobSpec

    return JobSpec(
        kind="grpo",
        name="lr1e-6_epochs100_16gen_2accum-steps_32lora",
        template="grpo",
        params={
            "model_path": "/mnt/scratch/models/Llama-3.1-ARC-Potpourri-Induction-8B",
            "dataset": "/mnt/scratch/data/arc-agi_training_challenges.json",
        },
        profile="slurm-gpu",
        backend="slurm",
        run_dir="/mnt/scratch/trainings/2025-09-19/lr1e-6_epochs100",
        resources={
            "gpus": 1,
            "cpus": 20,
            "memory": "128G",
            "time": "2-00:00:00",
            "requirements": '(TARGET.Machine == "calculon21.das-nano.com")',
        },
        env={"HF_HOME": "/mnt/scratch/hf"},
        created="2025-09-19T10:00:00Z",
        **kw,
    )


def test_sbatch_script_matches_golden_and_is_valid_bash(tmp_path):
    b = SlurmBackend({"partition": "gpu", "account": "arc25", "setup": ["source /opt/venv/bin/activate"]})
    art = b.render(seed_spec())
    assert art.kind == "sbatch" and art.filename == "job.sbatch"
    check_golden("seed_grpo_gpu.sbatch", art.text)
    for needle in (
        "#SBATCH --gres=gpu:1",
        "#SBATCH --cpus-per-task=20",
        "#SBATCH --mem=128G",
        "#SBATCH --signal=B:USR1@90",
        "#SBATCH --requeue",
        "#SBATCH --partition=gpu",
        "#SBATCH --nodelist=calculon21.das-nano.com",
        "trap on_usr1 USR1",
    ):
        assert needle in art.text
    (tmp_path / "s.sh").write_text(art.text)
    assert subprocess.run(["bash", "-n", str(tmp_path / "s.sh")]).returncode == 0

    cpu = b.render(seed_spec().model_copy(update={"resources": seed_spec().resources.model_copy(update={"gpus": 0})}))
    assert "--gres" not in cpu.text  # no gres line at all for CPU jobs
    check_golden("seed_grpo_cpu.sbatch", cpu.text)


def test_unknown_profile_option_is_named():
    with pytest.raises(Exception, match="partiton"):
        make_backend({"partiton": "gpu"}, None)


def test_pending_running_completed_and_cancel(slurm, tmp_path):
    b = SlurmBackend({"slurm_conf": str(slurm.conf)})
    # a blocker that takes every CPU keeps our job PENDING until we cancel the blocker
    blocker = b.submit(
        make_spec(
            tmp_path / "blocker",
            "blocker",
            cpus=os.cpu_count(),
            env={"FAKE_STEPS": 600, "FAKE_STEP_S": 0.1, "FAKE_SAVE_EVERY": 1000},
        )
    )
    # (generous: the test cluster may be shared with another test session's jobs)
    wait_for(lambda: b.status([blocker])[blocker].state is JobState.RUNNING, timeout=120, what="blocker running")
    job = b.submit(make_spec(tmp_path / "run", "run", env={"FAKE_STEPS": 6, "FAKE_STEP_S": 0.2}))
    st = wait_for(lambda: (s := b.status([job])[job]).state is JobState.QUEUED and s, what="job pending")
    assert st.exit_code is None

    b.cancel(blocker)
    seen = set()

    def done():
        s = b.status([job, blocker])
        seen.add(s[job].state)
        return s[job].state.terminal and s

    final = wait_for(done, timeout=60, interval=0.05, what="job completed")
    assert final[job].state is JobState.COMPLETED and final[job].exit_code == 0
    assert JobState.RUNNING in seen
    assert final[blocker].state is JobState.CANCELLED
    # the run dir is the trainer's: metrics, checkpoints, the exit_code file the script writes
    steps = [m["step"] for m in JsonlTail(str(tmp_path / "run" / METRICS)).read_new()]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert (tmp_path / "run" / "exit_code").read_text().strip() == "0"
    assert (tmp_path / "run" / "job.sbatch").exists() and (tmp_path / "run" / "spec.json").exists()


def test_failed_exit_code_from_squeue_and_jobcomp(slurm, tmp_path):
    b = SlurmBackend({"slurm_conf": str(slurm.conf)})
    job = b.submit(make_spec(tmp_path / "fail", "fail", env={"FAKE_STEPS": 1, "FAKE_STEP_S": 0, "FAKE_EXIT": 3}))
    st = wait_for(lambda: (s := b.status([job])[job]).state.terminal and s, what="job failed")
    assert (st.state, st.exit_code) == (JobState.FAILED, 3)
    # once squeue forgets a job, the status comes from sacct (here: the jobcomp file, `sacct -c`)
    fin = wait_for(lambda: b._finished([job]).get(job), what="jobcomp record")
    assert (fin.state, fin.exit_code) == (JobState.FAILED, 3)
    assert b._sacct_completion is True  # accounting storage is off here: discovered, remembered


def test_one_squeue_call_for_many_jobs(slurm, tmp_path):
    b = SlurmBackend({"slurm_conf": str(slurm.conf)})
    ids = [b.submit(make_spec(tmp_path / f"r{i}", f"r{i}", env={"FAKE_STEPS": 1, "FAKE_STEP_S": 0})) for i in range(3)]
    before = b.shell.calls
    st = b.status(ids)
    assert b.shell.calls - before == 1
    assert set(st) == set(ids) and all(s.state is not JobState.UNKNOWN for s in st.values())
    unknown = b.status(["999999"])["999999"]
    assert unknown.state is JobState.UNKNOWN and "999999" in unknown.detail


def test_gpu_request_on_a_gpu_less_node_is_a_clear_error(slurm, tmp_path):
    b = SlurmBackend({"slurm_conf": str(slurm.conf)})
    with pytest.raises(CommandError, match=r"sbatch failed on localhost.*(gres|generic resource)"):
        b.submit(make_spec(tmp_path / "gpu", "gpu", gpus=1))


def test_usr1_requeues_and_the_job_resumes_from_its_checkpoint(slurm, tmp_path):
    b = SlurmBackend({"slurm_conf": str(slurm.conf)})
    run = tmp_path / "pre"
    job = b.submit(make_spec(run, "pre", env={"FAKE_STEPS": 12, "FAKE_STEP_S": 0.25, "FAKE_SAVE_EVERY": 100}))
    tail = JsonlTail(str(run / METRICS))
    got: list[dict] = []
    wait_for(lambda: got.extend(tail.read_new()) or (got and got[-1]["step"] >= 3), what="3 steps")
    b.signal(job, "USR1")  # what Slurm sends 90 s before the time limit or on preemption
    # the trap checkpoints through the trainer and requeues: PENDING again, restart count 1
    st = wait_for(lambda: (s := b.status([job])[job]).extra.get("restarts") and s, what="requeue")
    assert st.state in (JobState.QUEUED, JobState.RUNNING)

    final = wait_after_requeue(slurm, b, job, timeout=90)
    assert final.state is JobState.COMPLETED and final.exit_code == 0

    events = read_jsonl(run / EVENTS)
    starts = [e for e in events if e["event"] == "started"]
    stop = next(e for e in events if e["event"] == "stopped" and e["signal"] == "SIGUSR1")
    assert len(starts) == 2 and starts[0]["resumed_from"] is None
    assert starts[1]["resumed_from"] == f"checkpoint-{stop['step']}" and starts[1]["restart_count"] == 1
    steps = [m["step"] for m in read_jsonl(run / METRICS)]
    # no step lost, none repeated: the second attempt continues right after the checkpoint
    assert steps == list(range(1, 13))
    log = (run / "stderr.log").read_text()
    assert "USR1 from Slurm" in log  # the first attempt's log survived the requeue (append mode)


def test_term_to_the_job_script_reaches_the_trainer_which_checkpoints(slurm, tmp_path):
    """SIGTERM to the batch shell alone (`scancel --batch --signal=TERM`): without the script's TERM
    trap the shell dies at once and Slurm kills the trainer with it; with it the trainer gets the
    signal, finishes its (slow) checkpoint and the job ends 0."""
    b = SlurmBackend({"slurm_conf": str(slurm.conf)})
    run = tmp_path / "term"
    job = b.submit(
        make_spec(run, "term", env={"FAKE_STEPS": 400, "FAKE_STEP_S": 0.25, "FAKE_SAVE_EVERY": 1000, "FAKE_SAVE_S": 3})
    )
    tail = JsonlTail(str(run / METRICS))
    got: list[dict] = []
    wait_for(lambda: got.extend(tail.read_new()) or (got and got[-1]["step"] >= 3), what="3 steps")
    b.signal(job, "TERM")
    final = wait_for(lambda: (s := b.status([job])[job]).state.terminal and s, timeout=60, what="the job to end")
    assert final.state is JobState.COMPLETED and final.exit_code == 0, (run / "stderr.log").read_text()
    stop = next(e for e in read_jsonl(run / EVENTS) if e["event"] == "stopped")
    assert stop["signal"] == "SIGTERM" and (run / f"checkpoint-{stop['step']}" / "trainer_state.json").exists()
    assert (run / "exit_code").read_text().strip() == "0"


def test_a_refresh_is_one_squeue_and_at_most_one_sacct(slurm, tmp_path, monkeypatch):
    from jobs.backends import slurm as slurm_mod

    monkeypatch.setattr(slurm_mod, "_SACCT_COMPLETION", {})  # a fresh process: nothing discovered yet
    b = SlurmBackend({"slurm_conf": str(slurm.conf)})
    ids = [b.submit(make_spec(tmp_path / f"q{i}", f"q{i}", env={"FAKE_STEPS": 1, "FAKE_STEP_S": 0})) for i in range(3)]
    gone = ["999997", "999998"]  # jobs squeue has forgotten (or never knew)
    calls: list[str] = []
    run = b.shell.run
    monkeypatch.setattr(b.shell, "run", lambda argv, **kw: calls.append(" ".join(argv[:2])) or run(argv, **kw))

    def refresh() -> list[str]:
        calls.clear()
        st = b.status(ids + gone)
        assert set(st) == set(ids + gone) and all(st[g].state is JobState.UNKNOWN for g in gone)
        return [c.split()[0] for c in calls]

    # the first refresh of a process learns whether sacct has accounting storage (here it has not:
    # `sacct -X` says so, then `sacct -c` reads the jobcomp file); it is remembered
    assert refresh() == ["squeue", "sacct", "sacct"]
    for _ in range(2):
        assert refresh() == ["squeue", "sacct"]  # all forgotten jobs in one sacct call
    calls.clear()
    b.status(ids)
    assert [c.split()[0] for c in calls] == ["squeue"]  # squeue knows them all: no sacct
