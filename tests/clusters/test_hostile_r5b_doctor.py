"""`arcctl doctor` of a profile whose host is a hop, `root@127.0.0.1:PORT` or
`root@[127.0.0.1]:PORT` (round 5b), against the real loopback sshd. The host-key check looked the
hop up whole as a config alias: it asked a host named `root@127.0.0.1:PORT` for its key, could not
tell, and left it to the login, whose fix said `ssh root@127.0.0.1:PORT` (which ssh cannot parse).
Now it reads the hop as `arcctl hosts --trust` does: an unknown key is its own ✗ with the
`--trust` command for that hop, a changed key says so, a known one is ✓ with its fingerprint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.sshd, pytest.mark.timeout(240)]
ARCCTL = str(Path(sys.executable).parent / "arcctl")


def _env(tmp_path: Path, slurm, host: str, ssh_config: Path) -> dict:
    cfg = tmp_path / "config"
    (cfg / "profiles").mkdir(parents=True, exist_ok=True)
    (cfg / "profiles" / "hop.toml").write_text(
        f'[profile]\nbackend = "slurm"\nhost = "{host}"\nruns_root = "{tmp_path / "runs"}"\n'
        f'[resources]\ngpus = 0\ncpus = 1\nmemory = "1G"\n[options]\nslurm_conf = "{slurm.conf}"\n'
        'partition = "debug"\n'
    )
    return {
        **os.environ,
        "ARCCTL_CONFIG_DIR": str(cfg),
        "ARCCTL_HOME": str(tmp_path / "home"),
        "ARCCTL_SSH_CONFIG": str(ssh_config),
    }


def _host_key(env: dict) -> dict:
    res = subprocess.run([ARCCTL, "doctor", "hop", "--json"], capture_output=True, text=True, env=env, timeout=200)
    assert "Traceback" not in res.stderr, res.stderr
    return {c["name"]: c for c in json.loads(res.stdout)}["host key"]


def _fp(pub: str) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", "-"], input=pub + "\n", capture_output=True, text=True).stdout
    return out.split()[1]


@pytest.mark.parametrize("form", ["root@127.0.0.1:{port}", "root@[127.0.0.1]:{port}"])
def test_a_hop_profile_gets_the_key_check_hosts_trust_gets(slurm, sshd, tmp_path, form):
    hop = form.format(port=sshd.port)
    known = tmp_path / "known_hosts"
    known.write_text("")
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(f"Host 127.0.0.1\n  IdentityFile {sshd.user_key}\n  UserKnownHostsFile {known}\n")
    env = _env(tmp_path, slurm, hop, ssh_config)
    fp = _fp(sshd.host_pub)

    check = _host_key(env)
    assert check["ok"] is False and fp in check["detail"] and str(known) in check["detail"], check
    assert check["fix"] == f"verify {fp} with the host's admin, then `arcctl hosts {hop} --trust {fp}`", check

    trust = subprocess.run([ARCCTL, "hosts", hop, "--trust", fp], capture_output=True, text=True, env=env, timeout=60)
    assert trust.returncode == 0, trust.stdout + trust.stderr
    check = _host_key(env)
    assert check["ok"] is True and fp in check["detail"] and "checked at login" not in check["detail"], check

    # another key under the same name: CHANGED, with the command that removes the old one
    other = Path(str(sshd.other_key) + ".pub").read_text().split()[:2]
    known.write_text(f"[127.0.0.1]:{sshd.port} {' '.join(other)}\n")
    check = _host_key(env)
    assert check["ok"] is False and "CHANGED" in check["detail"], check
    assert f"ssh-keygen -R '[127.0.0.1]:{sshd.port}'" in check["fix"] and f"arcctl hosts {hop} --trust" in check["fix"]


def test_a_hop_through_the_system_ssh_names_a_command_ssh_can_run(slurm, sshd, tmp_path):
    """Through the system ssh the login judges the key; its fix was `ssh root@127.0.0.1:PORT`,
    which ssh reads as a host named `127.0.0.1:PORT`."""
    hop = f"root@127.0.0.1:{sshd.port}"
    known = tmp_path / "known_hosts"
    known.write_text("")
    control = Path(tempfile.mkdtemp(prefix="cmd", dir="/tmp"))  # a socket path must stay short
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(
        f"Host 127.0.0.1\n  IdentityFile {sshd.user_key}\n  UserKnownHostsFile {known}\n"
        f"  ControlMaster auto\n  ControlPath {control}/%C\n"
    )
    try:
        check = _host_key(_env(tmp_path, slurm, hop, ssh_config))
    finally:
        shutil.rmtree(control, ignore_errors=True)
    assert check["ok"] is False and "Host key verification failed" in check["detail"], check
    assert f"`ssh -l root -p {sshd.port} 127.0.0.1` once" in check["fix"], check
    assert f"check the key with `ssh -l root -p {sshd.port} 127.0.0.1`" in check["detail"], check
