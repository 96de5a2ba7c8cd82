"""Real daemons for the cluster tests, started once per session (and reused when a previous
session left them running): munge + slurmctld + slurmd on this host, an OpenSSH server on a free
loopback port with throw-away keys. Tests skip, with the reason, only when a binary is missing or
we are not root (slurmd and sshd need it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.clusters import daemons
from jobs.spec import JobSpec

HERE = Path(__file__).resolve().parent
FAKE_TRAINER = HERE / "fake_trainer.py"
ARCCTL = str(Path(sys.executable).parent / "arcctl")
TERMINAL = ("completed", "failed", "cancelled")


def _need_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"{what} needs root (slurmd/sshd run as root in these tests)")


@pytest.fixture(scope="session")
def slurm():
    miss = daemons.missing(daemons.SLURM_BINARIES)
    if miss:
        pytest.skip(f"Slurm binaries missing: {', '.join(miss)} (apt-get install slurm-wlm munge)")
    _need_root("a local Slurm")
    cluster = daemons.ensure_slurm()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def sshd(slurm):
    if not os.path.exists(daemons.SSHD_BINARY):
        pytest.skip("OpenSSH server missing: /usr/sbin/sshd (apt-get install openssh-server)")
    _need_root("a loopback sshd")
    server = daemons.ensure_sshd()
    yield server
    server.stop()


@pytest.fixture
def ssh_config(sshd, tmp_path, monkeypatch):
    """An ssh config with host alias `testhost` (-> the loopback sshd) used through ARCCTL_SSH_CONFIG."""
    path = sshd.ssh_config(tmp_path / "ssh_config")
    monkeypatch.setenv("ARCCTL_SSH_CONFIG", str(path))
    return path


def make_spec(
    run_dir: Path | str,
    name: str = "job",
    backend: str = "slurm",
    host: str | None = None,
    env: dict | None = None,
    **resources,
) -> JobSpec:
    return JobSpec(
        kind="eval",
        name=name,
        template="eval",
        params={"model_path": "tiny", "dataset": "arc1/train"},
        backend=backend,
        host=host,
        profile=f"test-{backend}",
        run_dir=str(run_dir),
        entry=[sys.executable, str(FAKE_TRAINER)],
        env={k: str(v) for k, v in (env or {}).items()},
        resources={"cpus": 1, "memory": "100M", **resources},
    )


def wait_for(fn, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last value: {last!r}")


def wait_after_requeue(slurm, backend, job: str, timeout: float):
    """The final status of a job that has just been requeued. A requeued job waits for its begin
    time, then for the next scheduling pass (up to a minute): it is pulled forward, but only once
    the old credential has expired (AuthInfo=cred_expire=10): a restart inside that window is
    killed by slurmctld with "Job credential revoked" (exit 1)."""
    from jobs.backends.base import JobState

    requeued_at = time.monotonic()

    def finished():
        s = backend.status([job])[job]
        if s.state is JobState.QUEUED and time.monotonic() - requeued_at > 12:
            slurm.run("scontrol", "update", f"JobId={job}", "StartTime=now", check=False)
        return s.state.terminal and s

    return wait_for(finished, timeout=timeout, interval=0.5, what="the requeued job to finish")


def cli(env: dict, *args: str, check: bool = True, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real `arcctl` with `env` over this process's environment; asserts exit 0 unless check=False."""
    res = subprocess.run(
        [ARCCTL, *args], capture_output=True, text=True, env={**os.environ, **env}, cwd=cwd, timeout=timeout
    )
    if check:
        assert res.returncode == 0, f"arcctl {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res


def ls(env: dict) -> dict[str, dict]:
    """`arcctl ls --json` by job id (each call polls the backends through the shared watcher)."""
    return {j["id"]: j for j in json.loads(cli(env, "ls", "--json").stdout)}


def ended(env: dict, job_id: str) -> dict | None:
    """The job's row once it is completed, failed or cancelled, else None."""
    row = ls(env)[job_id]
    return row if row["state"] in TERMINAL else None


def write_fake_eval_template(cfg: Path) -> None:
    """<cfg>/templates/fake.toml: an eval job whose entry is the fake trainer (runs in a second),
    named fake_<n_predictions>preds, on one CPU."""
    (cfg / "templates").mkdir(parents=True, exist_ok=True)
    (cfg / "profiles").mkdir(exist_ok=True)
    (cfg / "templates" / "fake.toml").write_text(f"""
[template]
kind = "eval"
description = "cluster test job: the fake trainer"
name = "fake_{{n_predictions}}preds"
entry = ["{sys.executable}", "{FAKE_TRAINER}"]
[params]
model_path = "tiny"
dataset = "arc1/train"
n_predictions = 1
[resources]
gpus = 0
cpus = 1
memory = "100M"
""")
