"""`arcctl doctor` on a local profile ("or runs locally"): every line and the exit code for a
working profile run by this interpreter, and a broken one whose python does not exist."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ARCCTL = str(Path(sys.executable).parent / "arcctl")
pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def env(tmp_path):
    cfg = tmp_path / "config"
    (cfg / "profiles").mkdir(parents=True)
    # disk = "1M": the free-space line must not depend on how full this machine's disk is
    head = f'[profile]\nbackend = "local"\nruns_root = "{tmp_path / "runs"}"\n[resources]\ndisk = "1M"\n'
    (cfg / "profiles" / "here.toml").write_text(head)
    (cfg / "profiles" / "nopython.toml").write_text(head + '[options]\npython = "/nonexistent/venv/bin/python"\n')
    return {**os.environ, "ARCCTL_CONFIG_DIR": str(cfg), "ARCCTL_HOME": str(tmp_path / "home")}


def _doctor(env, *args):
    res = subprocess.run([ARCCTL, "doctor", *args], capture_output=True, text=True, env=env, timeout=150)
    assert "Traceback" not in res.stderr, res.stderr
    return res


def test_local_profile_lines_and_exit_code(env, tmp_path):
    res = _doctor(env, "here")
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "✓ connection",
        "- scheduler",
        "✓ runs_root",
        "✓ disk",
        "✓ python",
        lines[5].split(":")[0],  # "- gpus" here; "✓ gpus" on a machine with a driver and GPUs
        "✓ dry run",
    ], lines
    assert lines[5].split(":")[0] in ("- gpus", "✓ gpus")
    assert lines[0] == "✓ connection: jobs run on this machine (no ssh)"
    assert lines[2] == f"✓ runs_root: {tmp_path / 'runs'} is writable"
    # the default interpreter is the one arcctl runs in (this venv's), and it has the training stack
    assert (
        lines[4].startswith(f"✓ python: {Path(sys.executable).parent}/python")
        and "imports trainer; torch 2." in lines[4]
    )
    assert "trl 1." in lines[4] and "peft " in lines[4] and "missing" not in lines[4]
    assert lines[6] == "✓ dry run: a job renders (local jobs need no scheduler)"
    checks = json.loads(_doctor(env, "here", "--json").stdout)
    assert [c["name"] for c in checks] == [line.split(":")[0][2:] for line in lines]


def test_local_profile_whose_python_is_missing(env):
    res = _doctor(env, "nopython")
    assert res.returncode == 1
    bad = [line for line in res.stdout.splitlines() if line.startswith("✗")]
    assert len(bad) == 1 and bad[0].startswith(
        "✗ python: `/nonexistent/venv/bin/python` not found on this machine: no such file"
    ), bad
    assert "→ set python = " in bad[0], bad
    checks = {c["name"]: c for c in json.loads(_doctor(env, "nopython", "--json").stdout)}
    assert checks["python"]["ok"] is False and "nopython.toml" in checks["python"]["fix"]
    assert checks["dry run"]["ok"] is True  # the other checks still ran
