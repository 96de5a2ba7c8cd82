"""A run dir that already exists on the job's host is never written into by a new submission: the
registry only knows this machine's jobs, and a second machine's arcctl (or one whose registry was
lost) submitting into the same runs_root would have replaced the run's spec.json and mixed a
second job's logs and metrics into it. Real sshd and Slurm."""

from __future__ import annotations

import json

import pytest

from tests.clusters.conftest import cli, ls, wait_for, write_fake_eval_template

pytestmark = [pytest.mark.slurm, pytest.mark.sshd, pytest.mark.timeout(240)]


@pytest.fixture
def env(slurm, ssh_config, tmp_path):
    cfg = tmp_path / "config"
    write_fake_eval_template(cfg)
    (cfg / "profiles" / "sshslurm.toml").write_text(f"""
[profile]
backend = "slurm"
host = "testhost"
runs_root = "{tmp_path / "runs"}"
[options]
slurm_conf = "{slurm.conf}"
[env]
FAKE_STEPS = "2"
FAKE_STEP_S = "0.1"
""")
    return {"ARCCTL_CONFIG_DIR": str(cfg), "ARCCTL_HOME": str(tmp_path / "home"), "ARCCTL_SSH_CONFIG": str(ssh_config)}


@pytest.fixture
def other_machines_run(tmp_path):
    run = tmp_path / "runs" / "fake_1preds"
    run.mkdir(parents=True)
    (run / "spec.json").write_text('{"theirs": true}\n')
    (run / "metrics.jsonl").write_text('{"step": 1, "reward": 0.5}\n')
    return run


def test_an_explicit_name_taken_on_the_host_is_refused(env, other_machines_run):
    res = cli(env, "submit", "fake", "--profile", "sshslurm", "--name", "fake_1preds", check=False)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "already exists on testhost" in res.stderr and "Traceback" not in res.stderr
    assert json.loads((other_machines_run / "spec.json").read_text()) == {"theirs": True}
    assert sorted(p.name for p in other_machines_run.iterdir()) == ["metrics.jsonl", "spec.json"]
    assert ls(env) == {}  # nothing submitted, no row


def test_an_auto_name_taken_on_the_host_gets_the_next_suffix(env, other_machines_run):
    jid = cli(env, "submit", "fake", "--profile", "sshslurm", "-q").stdout.split()[0]
    job = wait_for(lambda: (j := ls(env)[jid])["state"] == "completed" and j, timeout=90, interval=1.0, what="done")
    assert job["name"] == "fake_1preds-2" and job["run_dir"].endswith("/fake_1preds-2")
    assert json.loads((other_machines_run / "spec.json").read_text()) == {"theirs": True}
    assert (other_machines_run / "metrics.jsonl").read_text() == '{"step": 1, "reward": 0.5}\n'
