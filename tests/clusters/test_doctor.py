"""`arcctl doctor PROFILE` against the real Slurm over the real sshd, the HTCondor stand-in over
the same sshd, a broken profile (every ✗ with its fix) and an unreachable host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clusters import condor_standin as standin
from tests.clusters.venvs import make_venv

pytestmark = [pytest.mark.slurm, pytest.mark.sshd, pytest.mark.timeout(240)]
ARCCTL = str(Path(sys.executable).parent / "arcctl")


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    return make_venv(tmp_path_factory.mktemp("arc-venv") / "venv")


@pytest.fixture
def profiles(slurm, ssh_config, venv, tmp_path):
    cfg = tmp_path / "config"
    (cfg / "profiles").mkdir(parents=True)
    standin.install(tmp_path / "bin", tmp_path / "state")

    def write(
        name: str,
        backend: str,
        options: str,
        runs_root: str | None = None,
        host: str = "testhost",
        resources: str = 'gpus = 0\ncpus = 1\nmemory = "1G"',
    ) -> None:
        (cfg / "profiles" / f"{name}.toml").write_text(
            f'[profile]\nbackend = "{backend}"\nhost = "{host}"\nruns_root = "{runs_root or tmp_path / "runs"}"\n'
            f"[resources]\n{resources}\n[options]\n{options}\n"
        )

    write("good", "slurm", f'slurm_conf = "{slurm.conf}"\npartition = "debug"\npython = "{venv}/bin/python"')
    write(
        "broken",
        "slurm",
        f'slurm_conf = "{slurm.conf}"\npartition = "nosuch"\nsetup = ["source /nonexistent/activate"]',
        runs_root="/proc/arcctl-cannot-write",
    )
    write(
        "gpuless",
        "slurm",
        f'slurm_conf = "{slurm.conf}"\npython = "{venv}/bin/python"',
        resources='gpus = 2\ncpus = 1\nmemory = "1G"',
    )
    write(
        "condor",
        "htcondor",
        f'universe = "vanilla"\nbin_dir = "{tmp_path / "bin"}"\nsetup = ["source {venv}/bin/activate"]',
    )
    write("nowhere", "slurm", 'partition = "debug"', host="nosuchhost")
    return {
        **os.environ,
        "ARCCTL_CONFIG_DIR": str(cfg),
        "ARCCTL_HOME": str(tmp_path / "home"),
        "ARCCTL_SSH_CONFIG": str(ssh_config),
    }


def doctor(env, *args):
    return subprocess.run([ARCCTL, "doctor", *args], capture_output=True, text=True, env=env, timeout=200)


def _checks(env, profile):
    res = doctor(env, profile, "--json")
    assert "Traceback" not in res.stderr
    return res.returncode, {c["name"]: c for c in json.loads(res.stdout)}


def test_good_slurm_profile_over_ssh(profiles, venv):
    res = doctor(profiles, "good")
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "✓ connection",
        "✓ scheduler",
        "✓ runs_root",
        "✓ disk",
        "✓ python",
        "- gpus",
        "✓ dry run",
    ], lines
    rc, checks = _checks(profiles, "good")
    assert "slurm-wlm 22.05" in checks["scheduler"]["detail"]
    assert checks["python"]["detail"].startswith(f"{venv}/bin/python ") and "trl 1." in checks["python"]["detail"]
    assert "sbatch --test-only accepts" in checks["dry run"]["detail"]


def test_broken_profile_says_what_to_fix(profiles):
    rc, checks = _checks(profiles, "broken")
    assert rc == 1
    assert checks["connection"]["ok"] is True
    for name, words in (
        ("runs_root", "not writable"),
        ("python", "/nonexistent/activate"),
        ("dry run", "sbatch --test-only refuses it"),
    ):
        assert checks[name]["ok"] is False and words in checks[name]["detail"], checks[name]
        assert checks[name]["fix"], checks[name]
    text = doctor(profiles, "broken").stdout
    assert all(line[0] in "✓✗-" for line in text.splitlines()) and text.count("✗") == 3
    assert "→ set python = " in text


def test_gpus_asked_for_but_none_anywhere(profiles):
    rc, checks = _checks(profiles, "gpuless")
    assert rc == 1 and checks["gpus"]["ok"] is False and "asks for 2" in checks["gpus"]["detail"]


def test_htcondor_profile_over_ssh_with_the_standin(profiles, venv, tmp_path):
    rc, checks = _checks(profiles, "condor")
    assert rc == 0, checks
    assert (
        "condor_submit condor_q condor_history condor_rm found; $CondorVersion: 25.14.1"
        in checks["scheduler"]["detail"]
    )
    assert checks["python"]["detail"].startswith(f"{venv}/bin/python ")
    assert checks["dry run"]["ok"] is True
    calls = standin.calls(tmp_path / "state")
    assert any(c[0] == "condor_submit" and "-dry-run" in c for c in calls)
    assert (
        not json.loads((tmp_path / "state" / "queue.json").read_text())["jobs"]
        if (tmp_path / "state" / "queue.json").exists()
        else True
    )


def test_unreachable_host_stops_after_the_connection(profiles):
    rc, checks = _checks(profiles, "nowhere")
    assert rc == 1 and list(checks) == ["connection"]
    assert "nosuchhost" in checks["connection"]["detail"] and checks["connection"]["fix"]


def test_unknown_profile_is_one_line_exit_2(profiles):
    res = doctor(profiles, "nope")
    assert res.returncode == 2 and res.stderr.strip().startswith("error: unknown profile 'nope'")
