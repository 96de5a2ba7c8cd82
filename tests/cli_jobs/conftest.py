"""Fixtures for the CLI and job-core tests: a private ARCCTL_HOME + config dir per test, user templates
whose entry is tests/cli_jobs/fake_trainer.py, and a runner for the real `arcctl` binary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clusters.conftest import wait_for  # noqa: F401 - the CLI and job-core tests poll the same way

HERE = Path(__file__).parent
FAKE = HERE / "fake_trainer.py"
ARCCTL = str(Path(sys.executable).parent / "arcctl")


def fake_template(name: str, args: str = "", gpus: int = 0, pattern: str = "fake_lr{learning_rate}") -> str:
    extra = ", ".join(f'"{a}"' for a in args.split())
    entry = f'["python", "{FAKE}"' + (f", {extra}" if extra else "") + "]"
    return f"""
[template]
kind = "grpo"
description = "fake trainer ({args or "defaults"})"
name = "{pattern}"
entry = {entry}

[params]
model_path = "tiny"
dataset = "synthetic"
learning_rate = 1e-6

[resources]
gpus = {gpus}
cpus = 1
memory = "1G"
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    """ARCCTL_HOME and ARCCTL_CONFIG_DIR in tmp, with fake templates: fake (completes quickly),
    fakefail (exit 3), fakeslow (runs ~20 s), fakestubborn (ignores SIGTERM)."""
    data, cfg = tmp_path / "home", tmp_path / "config"
    (cfg / "templates").mkdir(parents=True)
    (cfg / "profiles").mkdir(parents=True)
    (cfg / "templates" / "fake.toml").write_text(fake_template("fake", "--steps 3 --sleep 0.1"))
    (cfg / "templates" / "fakefail.toml").write_text(fake_template("fakefail", "--steps 2 --sleep 0.1 --exit 3"))
    (cfg / "templates" / "fakeslow.toml").write_text(fake_template("fakeslow", "--steps 200 --sleep 0.1"))
    (cfg / "templates" / "fakestubborn.toml").write_text(
        fake_template("fakestubborn", "--steps 200 --sleep 0.1 --ignore-term")
    )
    (cfg / "profiles" / "quick.toml").write_text('[profile]\nbackend = "local"\n[options]\ncancel_grace_s = 1\n')
    monkeypatch.setenv("ARCCTL_HOME", str(data))
    monkeypatch.setenv("ARCCTL_CONFIG_DIR", str(cfg))
    monkeypatch.delenv("ARCCTL_FAULT", raising=False)
    yield data
    _kill_leftovers(data)


def _kill_leftovers(data: Path) -> None:
    """Stop any fake job a failing test left running (only ours: pids from our run dirs)."""
    import signal

    for pid_file in data.glob("runs/*/pid"):
        try:
            pid = int(pid_file.read_text().split()[0])
            os.killpg(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass


def run_cli(
    *args: str, env: dict | None = None, check: bool | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    res = subprocess.run([ARCCTL, *args], capture_output=True, text=True, env=full_env, timeout=timeout)
    if check is True:
        assert res.returncode == 0, f"arcctl {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def one_line_error(res: subprocess.CompletedProcess, *needles: str) -> str:
    """Assert the bad-input contract: exit 2, one `error: ` line on stderr naming every needle, no traceback."""
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    err = res.stderr.strip()
    assert "Traceback" not in res.stderr and "\n" not in err, res.stderr
    assert err.startswith("error: "), err
    for n in needles:
        assert n in err, err
    return err
