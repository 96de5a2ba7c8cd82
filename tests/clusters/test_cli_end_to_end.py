"""The whole stack on real components: `arcctl submit` with a Slurm profile (local and over the
loopback sshd), the shared watcher behind `arcctl ls`, `arcctl tail` over SFTP, `arcctl cancel`,
and crash recovery of a submit interrupted right after sbatch (jobs.submit.recover + find)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clusters.conftest import cli, ls, wait_for, write_fake_eval_template

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(240)]


@pytest.fixture
def home(slurm, tmp_path):
    cfg = tmp_path / "config"
    write_fake_eval_template(cfg)
    for name, host in (("localslurm", None), ("sshslurm", "testhost")):
        (cfg / "profiles" / f"{name}.toml").write_text(f"""
[profile]
backend = "slurm"
{f'host = "{host}"' if host else ""}
runs_root = "{tmp_path / "runs"}"
[options]
slurm_conf = "{slurm.conf}"
[env]
FAKE_STEPS = "4"
FAKE_STEP_S = "0.2"
""")
    return {"ARCCTL_CONFIG_DIR": str(cfg), "ARCCTL_HOME": str(tmp_path / "home")}


def test_sweep_on_local_slurm_then_cancel(home):
    ids = cli(home, "submit", "fake", "--profile", "localslurm", "-p", "n_predictions=1,2", "-q").stdout.split()
    assert len(ids) == 2
    jobs = wait_for(
        lambda: (j := ls(home)) and all(j[i]["state"] == "completed" for i in ids) and j,
        timeout=90,
        interval=1.0,
        what="both sweep jobs completed",
    )
    assert all(jobs[i]["backend"] == "slurm" and jobs[i]["backend_job_id"].isdigit() for i in ids)
    assert all(jobs[i]["exit_code"] == 0 for i in ids)

    long = cli(home, "submit", "fake", "--profile", "localslurm", "-p", "n_predictions=7", "-q").stdout.split()[0]
    cli(home, "cancel", long)
    wait_for(lambda: ls(home)[long]["state"] == "cancelled", timeout=60, interval=1.0, what="cancelled")


def test_crash_between_sbatch_and_registry_is_recovered(home):
    res = cli(
        {**home, "ARCCTL_FAULT": "after_backend"},
        "submit",
        "fake",
        "--profile",
        "localslurm",
        "--name",
        "crashy",
        check=False,
    )
    assert res.returncode == 70  # died right after sbatch accepted the job
    job = wait_for(
        lambda: [j for j in ls(home).values() if j["name"] == "crashy" and j["backend_job_id"]],
        timeout=30,
        interval=1.0,
        what="recovered job",
    )[0]
    assert job["backend_job_id"].isdigit() and job["reason"] != "submit_interrupted"


@pytest.mark.sshd
def test_submit_over_ssh_and_tail_over_sftp(home, ssh_config, tmp_path):
    env = {**home, "ARCCTL_SSH_CONFIG": str(ssh_config)}
    jid = cli(env, "submit", "fake", "--profile", "sshslurm", "-q").stdout.split()[0]
    job = wait_for(
        lambda: (j := ls(env)[jid])["state"] == "completed" and j, timeout=90, interval=1.0, what="remote job completed"
    )
    assert job["host"] == "testhost"
    out = cli(env, "tail", jid, "--metrics").stdout
    assert [l.split()[1] for l in out.splitlines() if l.startswith("step ")] == ["1", "2", "3", "4"]


def test_an_unreachable_host_is_one_line_exit_2_and_nothing_written(home, tmp_path):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(f"Host deadhost\n  HostName 127.0.0.1\n  Port {port}\n  ConnectTimeout 5\n")
    cfg = Path(home["ARCCTL_CONFIG_DIR"])
    (cfg / "profiles" / "deadslurm.toml").write_text(
        f'[profile]\nbackend = "slurm"\nhost = "deadhost"\nruns_root = "{tmp_path / "dead-runs"}"\n'
    )
    env = {**home, "ARCCTL_SSH_CONFIG": str(ssh_config)}
    for args in (
        ["submit", "fake", "--profile", "deadslurm"],
        ["tail", "deadhost:/tmp/some-run"],
        ["open", "deadhost:/tmp/some-run"],
        ["health", "deadhost:/tmp/some-run"],
    ):
        res = cli(env, *args, check=False)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "deadhost" in lines[0] and "Traceback" not in res.stderr, (args, res.stderr)
    # nothing launched and no run dir; the attempt stays visible as a failed row that never ran
    [job] = ls(env).values()
    assert job["state"] == "failed" and job["reason"] == "submit_failed" and "deadhost" in job["detail"]
    assert job["backend_job_id"] is None
    assert not (tmp_path / "dead-runs").exists()
