"""`arcctl doctor PROFILE` against the real loopback sshd when the profile's Python is not usable
(round 6b): missing (a path, or no `python` on the host's PATH), not executable, a wrapper that
prints junk or exits non-zero, or older than the trainer's requires-python. Each is one ✗ python
line naming the host, the interpreter and the profile's `python = ...` option. Before: JSON junk
was a traceback, an old Python passed, a missing one was bash's "line 5: command not found"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from jobs.doctor_python import min_python

pytestmark = [pytest.mark.slurm, pytest.mark.sshd, pytest.mark.timeout(240)]
ARCCTL = str(Path(sys.executable).parent / "arcctl")
ROOT = Path(__file__).resolve().parents[2]


def _doctor(tmp_path: Path, slurm, ssh_config: Path, options: str) -> tuple[int, dict, str]:
    cfg = tmp_path / "config"
    (cfg / "profiles").mkdir(parents=True, exist_ok=True)
    (cfg / "profiles" / "py.toml").write_text(
        f'[profile]\nbackend = "slurm"\nhost = "testhost"\nruns_root = "{tmp_path / "runs"}"\n'
        f'[resources]\ngpus = 0\ncpus = 1\nmemory = "1G"\n[options]\nslurm_conf = "{slurm.conf}"\n'
        f'partition = "debug"\n{options}\n'
    )
    env = {
        **os.environ,
        "ARCCTL_CONFIG_DIR": str(cfg),
        "ARCCTL_HOME": str(tmp_path / "home"),
        "ARCCTL_SSH_CONFIG": str(ssh_config),
    }
    res = subprocess.run([ARCCTL, "doctor", "py", "--json"], capture_output=True, text=True, env=env, timeout=200)
    assert "Traceback" not in res.stderr + res.stdout, res.stderr + res.stdout
    checks = {c["name"]: c for c in json.loads(res.stdout)}
    text = subprocess.run([ARCCTL, "doctor", "py"], capture_output=True, text=True, env=env, timeout=200).stdout
    [line] = [x for x in text.splitlines() if x.startswith("✗ python: ")]
    return res.returncode, checks["python"], line


def _script(path: Path, body: str, mode: int = 0o755) -> str:
    path.write_text(body)
    path.chmod(mode)
    return str(path)


def _bad(tmp_path, slurm, ssh_config, options: str, *needles: str) -> str:
    rc, check, line = _doctor(tmp_path, slurm, ssh_config, options)
    assert rc == 1 and check["ok"] is False, check
    assert "on testhost" in check["detail"], check
    for n in needles:
        assert n in check["detail"], check
    assert 'set python = "' in check["fix"] and f"of {tmp_path / 'config'}" in check["fix"], check
    assert "→ set python = " in line
    return check["detail"]


def test_the_profiles_python_is_a_missing_path(slurm, sshd, ssh_config, tmp_path):
    gone = tmp_path / "venv" / "bin" / "python"
    _bad(tmp_path, slurm, ssh_config, f'python = "{gone}"', f"`{gone}` not found on testhost: no such file")


def test_no_python_on_the_hosts_path(slurm, sshd, ssh_config, tmp_path):
    """The default interpreter is `python` on the job's PATH; here the setup leaves none."""
    (tmp_path / "empty").mkdir()
    detail = _bad(
        tmp_path,
        slurm,
        ssh_config,
        f'setup = ["export PATH={tmp_path / "empty"}:/bin"]',
        "`python` not found on testhost (after the profile's 1 setup line(s)): no such command on PATH",
    )
    assert "line " not in detail, detail


def test_the_profiles_python_is_not_executable(slurm, sshd, ssh_config, tmp_path):
    py = _script(tmp_path / "python", "#!/bin/sh\necho hi\n", mode=0o644)
    _bad(tmp_path, slurm, ssh_config, f'python = "{py}"', f"`{py}` on testhost is not an executable file")
    _bad(tmp_path, slurm, ssh_config, f'python = "{tmp_path}"', f"`{tmp_path}` on testhost is not an executable file")


@pytest.mark.parametrize(
    "body, words",
    [
        ("echo welcome; echo 42", "not a working Python: it printed 'welcome 42', not the probe's answer"),
        ("echo '{\"a\": 1}'", "not a working Python: it printed '{\"a\": 1}'"),
        ("echo null", "it printed 'null'"),
        ("printf 'junk\\033[2J\\n'", "it printed 'junk?[2J'"),
        ("echo boom >&2; exit 3", "not a working Python: it exited 3: boom"),
        ("exit 5", "it exited 5 and printed 'nothing'"),
    ],
)
def test_the_profiles_python_prints_junk_or_fails(slurm, sshd, ssh_config, tmp_path, body, words):
    py = _script(tmp_path / "python", f"#!/bin/sh\n{body}\n")
    _bad(tmp_path, slurm, ssh_config, f'python = "{py}"', f"`{py}` on testhost", words)


def test_a_python_older_than_requires_python(slurm, sshd, ssh_config, tmp_path):
    """A Python 3.9 stand-in: this Python with a sitecustomize that reports 3.9.18 (there is no
    old interpreter on the test machine). Before, it passed (✓ with `Python 3.9.18`)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\nsys.version_info = (3, 9, 18, 'final', 0)\nsys.version = '3.9.18 (stand-in)'\n"
    )
    py = _script(tmp_path / "python3.9", f'#!/bin/sh\nPYTHONPATH={site} exec {sys.executable} "$@"\n')
    detail = _bad(tmp_path, slurm, ssh_config, f'python = "{py}"', "is Python 3.9.18; the trainer needs Python >=3.11")
    assert detail.startswith(sys.executable), detail


def test_the_minimum_is_pyprojects_requires_python():
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert min_python()[0] == spec
    major, minor = spec.removeprefix(">=").split(".")[:2]
    assert min_python()[1] == (int(major), int(minor))


def test_what_the_python_says_stays_on_one_line(slurm, sshd, ssh_config, tmp_path):
    """An import error of several lines with an escape sequence (a hostile or broken trainer)
    came out as several lines, the escape reaching the terminal."""
    answer = {"python": "/x/python", "version": "3.12.1", "error": "ImportError: one\ntwo \u001b[2J three"}
    (tmp_path / "answer.json").write_text(json.dumps(answer) + "\n")
    py = _script(tmp_path / "python", f"#!/bin/sh\ncat {tmp_path / 'answer.json'}\n")
    rc, check, line = _doctor(tmp_path, slurm, ssh_config, f'python = "{py}"')
    assert check["detail"] == "/x/python on testhost cannot import the trainer: ImportError: one two ?[2J three", check
    assert "\x1b" not in line
