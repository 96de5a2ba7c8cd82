"""The real trainer (tiny model, CPU) on the real Slurm, submitted over the real loopback sshd:
sbatch → the preemption warning (`scancel --batch --signal=USR1`, what `--signal=B:USR1@90` sends)
→ the job script forwards it to the trainer, which saves a checkpoint at the end of its step and
exits 0 → `scontrol requeue` → the requeued job resumes from that checkpoint: every step trained
exactly once; the same when the scheduler requeues the job itself (TERM). The stand-in trainer (fake_trainer.py) stays only in tests about the job script and
the backend themselves."""

from __future__ import annotations

import os
import sys

import pytest

from jobs import rundir
from jobs.backends.base import JobState
from jobs.backends.slurm import SlurmBackend
from jobs.ssh_transport import SSHPool
from jobs.scheduler_shell import SSHShell
from jobs.spec import JobSpec
from tests.clusters.conftest import wait_after_requeue, wait_for

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.timeout(540)]  # its waits: 240 + 120 + 150 s
STEPS = 8


def grpo_spec(run_dir, model, host: str | None, gpus: int = 0) -> JobSpec:
    env = {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    if os.environ.get("PYTHONPATH"):  # a development checkout not installed in the venv
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    params = {
        "model_path": str(model),
        "dataset": "synthetic:4",
        "num_generations": 2,
        "n_jobs": 1,
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "max_completion_length": 16,
        "max_steps": STEPS,
        "save_steps": 100,
        "logging_steps": 1,
    }
    return JobSpec(
        kind="grpo",
        name=run_dir.name,
        template="grpo",
        params=params,
        backend="slurm",
        host=host,
        profile="test-slurm",
        run_dir=str(run_dir),
        env=env,
        resources={"gpus": gpus, "cpus": 1, "memory": "2G"},
    )


def test_usr1_checkpoints_the_real_trainer_and_the_requeued_job_resumes(slurm, ssh_config, tmp_path, tiny_model_dir):
    pool = SSHPool()
    b = SlurmBackend(
        {"slurm_conf": str(slurm.conf), "python": sys.executable}, host="testhost", shell=SSHShell("testhost", pool)
    )
    run = tmp_path / "real-slurm"  # on the sshd host (loopback)
    job = b.submit(grpo_spec(run, tiny_model_dir, "testhost"))
    _preempt_requeue_and_check(slurm, b, job, run)
    pool.close()


def test_usr1_reaches_the_trainer_under_the_accelerate_launcher(slurm, tmp_path, tiny_model_dir):
    """A multi-GPU job runs `accelerate launch`, which dies on USR1: the job script must signal the
    training process under it. The node has no GPUs, so the script rendered for 2 GPUs is submitted
    without its gres line; accelerate then starts one training process as its child, which is what
    the script has to reach either way."""
    b = SlurmBackend({"slurm_conf": str(slurm.conf), "python": sys.executable})
    run = tmp_path / "accelerate"
    spec = grpo_spec(run, tiny_model_dir, None, gpus=2)
    text = b.render(spec).text
    assert "accelerate.commands.launch" in text and 'pkill -USR1 -P "$child"' in text
    run.mkdir()
    spec.write()
    script = run / "job.sbatch"
    script.write_text("\n".join(l for l in text.splitlines() if not l.startswith("#SBATCH --gres")) + "\n")
    job = slurm.run("sbatch", "--parsable", str(script)).stdout.strip().split(";")[0]
    _preempt_requeue_and_check(slurm, b, job, run)


def test_a_scheduler_requeue_checkpoints_the_real_trainer_and_it_resumes(slurm, tmp_path, tiny_model_dir):
    """Preemption by the scheduler itself (PreemptMode=REQUEUE; here `scontrol requeue`): Slurm sends
    TERM to the job, the trainer checkpoints at the end of its step, and the requeued job resumes
    from that checkpoint: no step lost beyond the one being trained, none trained twice."""
    b = SlurmBackend({"slurm_conf": str(slurm.conf), "python": sys.executable})
    run = tmp_path / "requeued"
    job = b.submit(grpo_spec(run, tiny_model_dir, None))
    _preempt_requeue_and_check(
        slurm,
        b,
        job,
        run,
        preempt=lambda: slurm.run("scontrol", "requeue", job),
        signal="SIGTERM",
        log="TERM from Slurm",
    )


def _preempt_requeue_and_check(
    slurm, b: SlurmBackend, job: str, run, preempt=None, signal: str = "SIGUSR1", log: str = "USR1 from Slurm"
) -> None:
    tail = rundir.JsonlTail(str(run / rundir.METRICS))
    seen: list[dict] = []

    def two_steps():
        seen.extend(tail.read_new())
        st = b.status([job])[job]
        assert not st.state.terminal, f"job ended before the signal: {st}\n{_log(run)}"
        return len(seen) >= 2

    wait_for(two_steps, timeout=240, interval=0.5, what="2 training steps")
    (preempt or (lambda: b.signal(job, "USR1")))()
    wait_for(lambda: b.status([job])[job].extra.get("restarts"), timeout=120, interval=0.5, what="requeue")
    final = wait_after_requeue(slurm, b, job, timeout=150)
    assert final.state is JobState.COMPLETED and final.exit_code == 0, _log(run)

    events = rundir.read_jsonl(run / rundir.EVENTS)
    starts = [e for e in events if e["event"] == rundir.EV_STARTED]
    stops = [e for e in events if e["event"] == rundir.EV_STOPPED]
    assert len(starts) == 2 and len(stops) == 2, events
    first_stop = stops[0]
    assert first_stop["reason"] == "signal" and first_stop["signal"] == signal and 2 <= first_stop["step"] < STEPS
    # the checkpoint written on the signal, not one from save_steps (100), is where the requeue resumed
    assert starts[0]["resume_from"] is None
    assert starts[1]["step"] == first_stop["step"]
    assert starts[1]["resume_from"] == str(run / f"checkpoint-{first_stop['step']}")
    assert stops[1]["reason"] == "completed" and stops[1]["step"] == STEPS
    assert [m["step"] for m in rundir.read_jsonl(run / rundir.METRICS)] == list(range(1, STEPS + 1))
    assert log in (run / "stderr.log").read_text()


def _log(run) -> str:
    path = run / "stderr.log"
    return path.read_text()[-3000:] if path.exists() else "(no stderr.log)"
