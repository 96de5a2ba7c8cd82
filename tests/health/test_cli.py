"""`arcctl health`: text and JSON output, exit codes, run dir / registry job / host:/path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arcctl.cli.main import app

from .conftest import add_checkpoints

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCCTL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def collapsed(traces_root, tmp_path):
    run = tmp_path / "runs" / "collapsed"
    shutil.copytree(traces_root / "collapse_truncation", run)
    add_checkpoints(run, every=200, last=5000)
    return run


def invoke(*args):
    return CliRunner().invoke(app, ["health", *args])


def test_text_report_names_rule_steps_and_checkpoint(collapsed, home):
    from jobs.health import diagnose

    warn = diagnose(str(collapsed)).first_warning_step
    assert 3400 < warn < 3600
    res = invoke(str(collapsed))
    assert res.exit_code == 1, res.output
    out = res.output
    assert f"status: CRITICAL  (first warning at step {warn})" in out
    assert "healthy checkpoint: checkpoint-3400 (step 3400)" in out
    assert "truncation" in out and f"warning@{warn}" in out and "clipped ratio" in out
    assert "e.g. completion" in out


def test_json_report(collapsed, home):
    res = invoke(str(collapsed), "--json")
    assert res.exit_code == 1
    d = json.loads(res.output)
    assert d["status"] == "critical" and 3400 < d["first_warning_step"] < 3600
    assert d["healthy_checkpoint"]["name"] == "checkpoint-3400"
    assert {a["rule"] for a in d["alerts"]} >= {"truncation", "reward_fall"}


def test_healthy_run_exits_zero(traces_root, home):
    res = invoke(str(traces_root / "healthy_b"))
    assert res.exit_code == 0, res.output
    assert "status: WATCH" in res.output or "status: HEALTHY" in res.output


def test_registry_job_by_name(collapsed, home):
    from jobs.registry import Registry
    from jobs.spec import JobSpec

    spec = JobSpec.read(collapsed).model_copy(update={"name": "my-collapsed-run", "run_dir": str(collapsed)})
    Registry().reserve(spec, state="failed")
    res = invoke("my-collapsed-run", "--json")
    assert res.exit_code == 1, res.output
    assert json.loads(res.output)["run_dir"] == str(collapsed)


def test_unknown_run_is_one_clear_error(home):
    res = invoke("no-such-run")
    assert res.exit_code == 2
    assert "no-such-run: not a run dir, and no job 'no-such-run'" in res.output
    assert "Traceback" not in res.output


def test_bad_health_override_in_spec_is_one_clear_error(collapsed, home):
    spec = json.loads((collapsed / "spec.json").read_text())
    spec["params"]["health"] = {"windw": 3}
    (collapsed / "spec.json").write_text(json.dumps(spec))
    res = invoke(str(collapsed))
    assert res.exit_code == 2
    assert "spec.json: params.health: unknown health threshold 'windw'" in res.output


@pytest.mark.sshd
def test_remote_run_over_sftp(collapsed, tmp_path):
    if os.geteuid() != 0 or not os.path.exists("/usr/sbin/sshd"):
        pytest.skip("needs root and /usr/sbin/sshd for a loopback sshd")
    from tests.clusters import daemons

    server = daemons.ensure_sshd()
    try:
        cfg = server.ssh_config(tmp_path / "ssh_config")
        env = dict(os.environ, ARCCTL_SSH_CONFIG=str(cfg), ARCCTL_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO))
        cmd = [
            sys.executable,
            "-c",
            "from arcctl.cli.main import run; run()",
            "health",
            f"testhost:{collapsed}",
            "--json",
        ]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1, proc.stderr
        d = json.loads(proc.stdout)
        assert d["status"] == "critical" and d["healthy_checkpoint"]["name"] == "checkpoint-3400"
        bad = subprocess.run(
            cmd[:-2] + ["testhost:/nonexistent/run"], env=env, capture_output=True, text=True, timeout=60
        )
        assert bad.returncode == 2 and "Traceback" not in bad.stderr
        assert "testhost:/nonexistent/run: no such run dir on testhost" in bad.stderr
    finally:
        server.stop()
