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
    write(
        "condor-docker",
        "htcondor",
        f'universe = "docker"\ndocker_image = "arcctl-trainer:0.1.0"\nbin_dir = "{tmp_path / "bin"}"',
        resources='gpus = 1\ncpus = 1\nmemory = "1G"',
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
        "✓ host key",
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


def test_htcondor_docker_universe_says_what_the_submit_host_cannot_check(profiles, tmp_path):
    """The shipped example's universe: the trainer is inside an image on the execute nodes and the
    GPUs are there too; from the submit host both are "- not checked" with what to do instead, not
    a ✗ for the submit host's missing GPU. What it can check (scheduler, runs_root, the
    description with docker_image and request_gpus) it does."""
    res = doctor(profiles, "condor-docker")
    assert res.returncode == 0, res.stdout + res.stderr
    lines = {line.split(":")[0]: line for line in res.stdout.splitlines()}
    assert list(lines) == [
        "✓ host key",
        "✓ connection",
        "✓ scheduler",
        "✓ runs_root",
        "✓ disk",
        "- python",
        "- gpus",
        "✓ dry run",
    ], res.stdout
    assert "not checked: jobs run inside the image arcctl-trainer:0.1.0" in lines["- python"]
    assert "docker run --rm arcctl-trainer:0.1.0 python -c 'import trainer'" in lines["- python"]
    assert "not checked: the pool's GPUs are on its execute nodes" in lines["- gpus"]
    assert "request_gpus = 1" in lines["- gpus"]
    dry = [c for c in standin.calls(tmp_path / "state") if c[0] == "condor_submit" and "-dry-run" in c]
    assert dry, standin.calls(tmp_path / "state")


def test_unknown_host_key_is_its_own_line_with_the_fix(profiles, sshd, tmp_path):
    """The sshd's key is in no known_hosts file: one ✗ host key line with the fingerprint and the
    command that adds it, nothing else tried; after that command the same profile passes."""
    known = tmp_path / "empty_known_hosts"
    known.write_text("")
    cfg = sshd.ssh_config(tmp_path / "ssh_config_unknown", known_hosts=known)
    env = {**profiles, "ARCCTL_SSH_CONFIG": str(cfg)}
    fp = subprocess.run(
        ["ssh-keygen", "-lf", "-"], input=sshd.host_pub + "\n", capture_output=True, text=True
    ).stdout.split()[1]
    rc, checks = _checks(env, "good")
    assert rc == 1 and list(checks) == ["host key"], checks
    assert checks["host key"]["ok"] is False and fp in checks["host key"]["detail"]
    assert str(known) in checks["host key"]["detail"]
    assert checks["host key"]["fix"] == f"verify {fp} with the host's admin, then `arcctl hosts testhost --trust {fp}`"
    text = doctor(env, "good").stdout
    assert text.startswith("✗ host key: ") and text.count("\n") == 1 and f"→ verify {fp}" in text

    trust = subprocess.run([ARCCTL, "hosts", "testhost", "--trust", fp], capture_output=True, text=True, env=env)
    assert trust.returncode == 0, trust.stderr
    rc, checks = _checks(env, "good")
    assert rc == 0 and checks["host key"]["ok"] is True and fp in checks["host key"]["detail"], checks


RELAY = """
import os, socket, sys, threading
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
def up():
    while b := os.read(0, 65536):
        s.sendall(b)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while b := s.recv(65536):
    os.write(1, b)
"""


def test_host_key_behind_a_proxycommand_is_judged_by_the_login(profiles, sshd, tmp_path):
    """A host reached through ProxyCommand cannot be asked for its key directly: the login checks
    it, and an unknown key is still the "host key" line (not "connection"), with the fix."""
    (tmp_path / "relay.py").write_text(RELAY)
    proxy = f"  ProxyCommand {sys.executable} {tmp_path / 'relay.py'} %h %p\n"
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    unknown = sshd.ssh_config(tmp_path / "ssh_config_proxy_unknown", known_hosts=empty, extra=proxy)
    rc, checks = _checks({**profiles, "ARCCTL_SSH_CONFIG": str(unknown)}, "good")
    assert rc == 1 and list(checks) == ["host key"], checks
    assert "is unknown" in checks["host key"]["detail"] and "`ssh testhost` once" in checks["host key"]["fix"]

    known = sshd.ssh_config(tmp_path / "ssh_config_proxy_known", extra=proxy)
    rc, checks = _checks({**profiles, "ARCCTL_SSH_CONFIG": str(known)}, "good")
    assert rc == 0 and checks["host key"]["detail"] == "testhost's key is in known_hosts (checked at login)", checks
    assert list(checks)[:2] == ["host key", "connection"]


def test_unreachable_host_stops_after_the_connection(profiles):
    rc, checks = _checks(profiles, "nowhere")
    assert rc == 1 and list(checks) == ["connection"]
    assert "nosuchhost" in checks["connection"]["detail"] and checks["connection"]["fix"]


def test_unknown_profile_is_one_line_exit_2(profiles):
    res = doctor(profiles, "nope")
    assert res.returncode == 2 and res.stderr.strip().startswith("error: unknown profile 'nope'")
