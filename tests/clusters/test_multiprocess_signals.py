"""Multi-process jobs on the local backend: `accelerate launch` starts each training process in a
session of its own, and its elastic agent exits 143 on SIGTERM and dies on SIGUSR1. The stop
signal must reach the training processes instead, which checkpoint and exit 0 (the launcher then
exits 0 with them); SIGKILL after the cancel grace must reach them too (no orphans).

The real trainer (tiny model, SFT, 2 CPU processes over gloo) under the real accelerate launcher,
configured through an accelerate config file as a user's cluster would have it. The preemption and
no-orphans tests are about the wrapper and the launcher, not the trainer: their workers are
stand-ins (one saves on USR1, one ignores every stop signal)."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from jobs import rundir
from jobs.backends.process_tree import descendants, is_launcher, processes
from jobs.registry import Registry
from jobs.spec import JobSpec
from jobs.submit import submit_spec
from tests.clusters.conftest import cli, ls, wait_for
from tests.tiny_params import tiny_sft_params

pytestmark = pytest.mark.timeout(300)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def env(tmp_path, monkeypatch):
    """ARCCTL_HOME of this test; an accelerate config for 2 processes (MULTI_GPU; on this CPU-only
    machine the workers use gloo) in the job's HF_HOME."""
    hf = tmp_path / "hf"
    (hf / "accelerate").mkdir(parents=True)
    (hf / "accelerate" / "default_config.yaml").write_text(
        "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\nnum_machines: 1\nnum_processes: 2\n"
        f"mixed_precision: 'no'\nuse_cpu: false\ngpu_ids: all\nmain_process_port: {_free_port()}\n"
    )
    monkeypatch.setenv("ARCCTL_HOME", str(tmp_path / "home"))
    job_env = {
        "HF_HOME": str(hf),
        "ACCELERATE_USE_CPU": "true",
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    if os.environ.get("PYTHONPATH"):  # a development checkout not installed in the venv
        job_env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return job_env


def _spec(run_dir: Path, env: dict, kind: str = "sft", entry: list[str] | None = None, **params) -> JobSpec:
    kw = {"entry": entry} if entry else {}
    return JobSpec(
        kind=kind,
        name=run_dir.name,
        template=kind,
        params=params,
        backend="local",
        profile="test-local",
        run_dir=str(run_dir),
        env=env,
        resources={"gpus": 2, "cpus": 1, "memory": "2G"},
        backend_options={"visible_gpus": "0,1", "cancel_grace_s": 60},
        **kw,
    )


def _workers(run_dir: Path, marker: str) -> list[int]:
    """The training processes: below the job's wrapper, not launchers, running `marker`."""
    wrapper = int((run_dir / "pid").read_text().split()[0])
    table = processes()
    return [
        p for p in descendants(wrapper, table) if marker in " ".join(table[p].argv) and not is_launcher(table[p].argv)
    ]


def _gone(pids: list[int]) -> bool:
    table = processes()
    return not any(p in table for p in pids)


def test_cancel_reaches_the_real_trainer_under_accelerate(tmp_path, env, tiny_model_dir):
    run = tmp_path / "runs" / "sft2"
    spec = _spec(run, env, **tiny_sft_params(tiny_model_dir, max_steps=400, save_steps=400))
    job = submit_spec(spec, Registry())
    tail = rundir.JsonlTail(str(run / rundir.METRICS))
    rows: list[dict] = []
    wait_for(lambda: rows.extend(tail.read_new()) or len(rows) >= 2, timeout=180, interval=0.5, what="2 steps")
    workers = _workers(run, "trainer")
    assert len(workers) == 2 and all(os.getsid(w) == w for w in workers)  # each in a session of its own

    cli({}, "cancel", job)  # SIGTERM -> both workers checkpoint at the end of their step -> everything exits 0
    wait_for(lambda: (run / "exit_code").exists(), timeout=120, interval=0.5, what="the cancelled job to end")
    assert (run / "exit_code").read_text().strip() == "0", (run / "stderr.log").read_text()[-3000:]
    assert _gone(workers)
    events = rundir.read_jsonl(run / rundir.EVENTS)
    [started] = [e for e in events if e["event"] == rundir.EV_STARTED]
    assert started["world_size"] == 2
    [stop] = [e for e in events if e["event"] == rundir.EV_STOPPED]
    assert stop["reason"] == "signal" and stop["signal"] == "SIGTERM" and stop["step"] >= 2
    ck = rundir.newest_valid_checkpoint(str(run))
    assert ck is not None and ck.step == stop["step"]
    wait_for(lambda: ls({})[job]["state"] == "cancelled", timeout=30, what="ls to say cancelled")


WORKER = """import os, signal, sys, time
# {what}
def stop(signum, frame):
    open(os.path.join(os.environ["ARCCTL_RUN_DIR"], "stopped-" + os.environ["RANK"]), "w").write(signal.Signals(signum).name)
    sys.exit(0)
signal.signal(signal.SIGUSR1, {on_usr1})
signal.signal(signal.SIGTERM, {on_term})
open(os.path.join(os.environ["ARCCTL_RUN_DIR"], "worker-" + os.environ["RANK"]), "w").write(str(os.getpid()))
time.sleep(600)
"""
POLITE = WORKER.format(what="saves on USR1 (preemption) and exits 0", on_usr1="stop", on_term="stop")
STUBBORN = WORKER.format(
    what="a worker stuck in a collective: never ends by itself", on_usr1="signal.SIG_IGN", on_term="signal.SIG_IGN"
)


def _launch_stand_ins(tmp_path: Path, env: dict, source: str, grace: float):
    run = tmp_path / "runs" / "stand-ins"
    script = tmp_path / "worker.py"
    script.write_text(source)
    spec = _spec(run, env, kind="command", entry=["python", "-m", "accelerate.commands.launch", str(script)])
    spec = spec.model_copy(update={"backend_options": {"visible_gpus": "0,1", "cancel_grace_s": grace}})
    job = submit_spec(spec, Registry())
    wait_for(
        lambda: (run / "worker-0").exists() and (run / "worker-1").exists(),
        timeout=120,
        interval=0.3,
        what="both workers",
    )
    workers = [int((run / f"worker-{r}").read_text()) for r in (0, 1)]
    assert all(os.getsid(w) == w for w in workers)
    return run, script, job, workers


def _kill_stand_ins(script: Path, workers: list[int]) -> None:
    """A failure must not leave the stand-ins sleeping."""
    table = processes()
    for w in workers:
        if w in table and str(script) in table[w].argv:
            os.kill(w, signal.SIGKILL)


def test_preemption_usr1_reaches_the_workers_and_the_launcher_exits_0(tmp_path, env):
    run, script, job, workers = _launch_stand_ins(tmp_path, env, POLITE, grace=60)
    try:
        os.kill(int((run / "pid").read_text().split()[0]), signal.SIGUSR1)  # USR1 to the job's wrapper
        wait_for(lambda: (run / "exit_code").exists(), timeout=60, interval=0.3, what="the job to end")
        assert [(run / f"stopped-{r}").read_text() for r in (0, 1)] == ["SIGUSR1", "SIGUSR1"]
        assert (run / "exit_code").read_text().strip() == "0"  # the launcher lived to report them
        wait_for(lambda: ls({})[job]["state"] == "completed", timeout=30, what="ls to say completed")
    finally:
        _kill_stand_ins(script, workers)


STUBBORN = """import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a worker stuck in a collective: never ends by itself
open(os.path.join(os.environ["ARCCTL_RUN_DIR"], "worker-" + os.environ["RANK"]), "w").write(str(os.getpid()))
time.sleep(600)
"""


def test_sigkill_after_the_grace_reaches_workers_in_their_own_sessions(tmp_path, env):
    run, script, job, workers = _launch_stand_ins(tmp_path, env, STUBBORN, grace=2)
    try:
        cli({}, "cancel", job)
        wait_for(
            lambda: _gone(workers) and (run / "exit_code").exists(),
            timeout=60,
            interval=0.3,
            what="the workers to be killed",
        )
        # the wrapper too (it writes exit_code, then starts queued jobs, then ends)
        wait_for(
            lambda: not [p for p in processes().values() if str(script) in p.argv], timeout=30, what="no process left"
        )
    finally:
        _kill_stand_ins(script, workers)


@pytest.mark.parametrize(
    "argv, launcher",
    [
        (["/venv/bin/python", "-m", "accelerate.commands.launch", "--num_processes", "2", "-m", "trainer"], True),
        (["/venv/bin/python", "/venv/bin/accelerate", "launch", "train.py"], True),
        (["accelerate", "launch", "train.py"], True),
        (["/venv/bin/python", "/venv/bin/torchrun", "--nproc_per_node", "2", "train.py"], True),
        (["python", "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "trainer", "run", "x"], True),
        (["/venv/bin/python", "-u", "-m", "trainer", "run", "/runs/x/spec.json"], False),  # a worker
        (["python", "train.py", "--note", "accelerate", "launch"], False),  # the words as arguments
        (["/venv/bin/python", "/venv/bin/accelerate", "config"], False),
    ],
)
def test_which_processes_are_launchers(argv, launcher):
    assert is_launcher(argv) is launcher
