"""A ProxyCommand that exits at once or hangs (round 6b), against the real loopback sshd's key and
the real `arcctl hosts` / `arcctl doctor`. paramiko read the exited command's end of output as "no
bytes yet" until the banner timeout and then said "is an sshd listening on port 22?", which points
at the wrong thing; the command's stderr was never read. Now: one line naming the host, the
ProxyCommand and what it did (exit status and its last stderr line, or "sent nothing")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.errors import RemoteError
from jobs.ssh_transport import SSHPool
from tests.clusters.cli_lines import one_line

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]
ARCCTL = str(Path(sys.executable).parent / "arcctl")


def _config(sshd, tmp_path: Path, proxy: str) -> Path:
    return sshd.ssh_config(tmp_path / "ssh_config", extra=f"  ConnectTimeout 2\n  ProxyCommand {proxy}\n")


def _hosts(cfg: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARCCTL_SSH_CONFIG": str(cfg), "ARCCTL_HOME": str(tmp_path / "home")}
    return subprocess.run([ARCCTL, "hosts", "testhost"], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize(
    "proxy, words",
    [
        (
            "sh -c 'echo bastion: no route to gpu01 >&2; exit 1'",
            "exited 1 before an SSH server answered: bastion: no route to gpu01",
        ),
        ("true", "exited 0 before an SSH server answered"),
    ],
)
def test_a_proxycommand_that_exits_at_once_is_named(sshd, tmp_path, proxy, words):
    cfg = _config(sshd, tmp_path, proxy)
    with pytest.raises(RemoteError) as err:
        SSHPool(cfg).exec("testhost", "true", timeout=30)
    msg = str(err.value)
    assert msg.startswith("ProxyCommand of testhost (") and msg.endswith(f" ({proxy}) {words}"), msg
    line = one_line(_hosts(cfg, tmp_path), "ProxyCommand of testhost (", f" ({proxy}) {words}", codes=(1, 2))
    assert "sshd listening" not in line


def test_a_proxycommand_that_hangs_is_named_and_stopped(sshd, tmp_path):
    pidfile = tmp_path / "proxy.pid"
    proxy = f"sh -c 'echo $$ > {pidfile}; echo connecting via bastion >&2; exec sleep 300'"
    cfg = _config(sshd, tmp_path, proxy)
    with pytest.raises(RemoteError) as err:
        SSHPool(cfg).exec("testhost", "true", timeout=30)
    assert str(err.value).startswith("ProxyCommand of testhost (")
    assert str(err.value).endswith(
        f" ({proxy}) sent nothing within 2 s (still running): no SSH server "
        "answered through it; it said: connecting via bastion"
    ), err.value
    # the stalled command is stopped, not left behind
    pid = int(pidfile.read_text())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]

    line = one_line(_hosts(cfg, tmp_path), "sent nothing within 2 s", codes=(1, 2))
    assert "sshd listening" not in line


def test_doctor_names_the_proxycommand(sshd, slurm, tmp_path):
    cfg = _config(sshd, tmp_path, "sh -c 'echo bastion says no >&2; exit 255'")
    conf = tmp_path / "config"
    (conf / "profiles").mkdir(parents=True)
    (conf / "profiles" / "p.toml").write_text(
        f'[profile]\nbackend = "slurm"\nhost = "testhost"\nruns_root = "{tmp_path / "runs"}"\n'
        f'[options]\nslurm_conf = "{slurm.conf}"\n'
    )
    env = {
        **os.environ,
        "ARCCTL_SSH_CONFIG": str(cfg),
        "ARCCTL_HOME": str(tmp_path / "h"),
        "ARCCTL_CONFIG_DIR": str(conf),
    }
    res = subprocess.run([ARCCTL, "doctor", "p", "--json"], capture_output=True, text=True, env=env, timeout=100)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    failed = [c for c in json.loads(res.stdout) if c["ok"] is False]
    assert len(failed) == 1, failed
    assert "ProxyCommand of testhost (" in failed[0]["detail"]
    assert "(sh -c 'echo bastion says no >&2; exit 255') exited 255" in failed[0]["detail"]
    assert "bastion says no" in failed[0]["detail"] and "sshd listening" not in failed[0]["detail"]
