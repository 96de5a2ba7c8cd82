"""Hostile ssh configs and host names (round 4): what the user's ~/.ssh/config or a job's host
string holds never runs a command of ours, never hangs a connect, and every refusal is one line
naming the file or host.

- `Match exec` is never run (paramiko ran it through a shell on every lookup, %h unquoted);
- a host name with shell syntax never reaches a ProxyCommand's %h (it ran the injected command);
- ProxyJump hosts that point at each other are one short line (was a thousand-part line after
  Python's recursion limit);
- an IdentityFile, known_hosts or ssh config that is a named pipe is refused or skipped (every
  connect blocked on its open);
- a host known under another key type that the server no longer presents is refused as CHANGED.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.errors import RemoteError
from jobs.ssh_config import parse_hop, resolve_host
from jobs.ssh_transport import SSHPool
from tests.clusters.cli_lines import one_line


def _one_line(res: subprocess.CompletedProcess, *needles: str) -> str:
    return one_line(res, *needles, codes=(1, 2))  # `hosts` exits 1 for a host it could not check


pytestmark = pytest.mark.timeout(90)
ARCCTL = str(Path(sys.executable).parent / "arcctl")


def _hosts(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARCCTL_SSH_CONFIG": str(config)}
    return subprocess.run([ARCCTL, "hosts", *args], capture_output=True, text=True, env=env, timeout=timeout)


# ---- Match exec ----------------------------------------------------------------------------------


def test_match_exec_is_never_run(tmp_path):
    marker = tmp_path / "ran"
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        f'Match host target exec "touch {marker}-%h"\n  Port 2222\n'
        "Host target\n  HostName 127.0.0.1\n"
        "Host other\n  HostName 10.0.0.1\n  Port 2200\n"
    )
    with pytest.raises(RemoteError, match=rf"ssh config {cfg}: host target meets `Match exec touch .*never runs"):
        resolve_host("target", cfg)
    # the host criterion fails first for `other`: the command would decide nothing, the host resolves
    other = resolve_host("other", cfg)
    assert (other.hostname, other.port) == ("10.0.0.1", 2200)
    _one_line(_hosts(cfg, "target"), "Match exec", str(cfg))
    assert list(tmp_path.glob("ran*")) == []

    # a bare `Match exec` applies to every host: each lookup is refused, nothing runs
    cfg.write_text(f'Match exec "touch {marker}"\n  User nobody\nHost *\n  Port 22\n')
    for host in ("target", "other", "root@other:2222"):
        with pytest.raises(RemoteError, match="Match exec"):
            SSHPool(cfg).exec(host, "true")
    assert list(tmp_path.glob("ran*")) == []


# ---- host names that are shell syntax or options ---------------------------------------------------


@pytest.mark.parametrize(
    "alias",
    ["x';touch${IFS}MARKER;'", "x`touch${IFS}MARKER`", "x$(touch${IFS}MARKER)", "-oProxyCommand=touch${IFS}MARKER"],
    ids=["quote", "backtick", "dollar-paren", "option"],
)
def test_a_host_name_with_shell_syntax_never_reaches_a_proxycommand(tmp_path, alias):
    """`Host *` + `ProxyCommand ... %h ...` is a common config; paramiko puts the name into that
    line unquoted, so a job's host string decided what the proxy ran."""
    marker = tmp_path / "pwned"
    alias = alias.replace("MARKER", str(marker))
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host *\n  ProxyCommand sh -c 'nc %h %p'\n")
    with pytest.raises(RemoteError, match="is not a host name") as e:
        SSHPool(cfg, connect_timeout=3).exec(alias, "true")
    assert "\n" not in str(e.value)
    with pytest.raises(RemoteError, match="is not a host name"):
        SSHPool(cfg, connect_timeout=3).exec(f"root@{alias}:22", "true")
    assert not marker.exists()


def test_ipv6_and_unicode_hops_parse_or_fail_in_one_line(tmp_path):
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host *\n  IdentitiesOnly yes\n")
    h = parse_hop("root@[::1]:2222", cfg)
    assert (h.user, h.hostname, h.port, h.known_hosts_key) == ("root", "::1", 2222, "[::1]:2222")
    with pytest.raises(RemoteError, match=r"ssh host 'fe80::1': port ':1' is not a port number"):
        parse_hop("fe80::1", cfg)
    # a name the IDNA codec cannot encode (a label of 64 letters) was a UnicodeError
    for name in ("b\u00fccher-" + "x" * 64 + ".invalid", "\u00e9t\u00e9.invalid"):
        with pytest.raises(RemoteError) as e:
            SSHPool(cfg, connect_timeout=3).exec(name, "true")
        # named, cut past 40 characters (round 6c: with DNS's limit, not the codec's text)
        assert (name if len(name) <= 40 else name[:40] + "…") in str(e.value) and "\n" not in str(e.value)


# ---- ProxyJump loops -------------------------------------------------------------------------------


def test_proxyjump_hosts_that_point_at_each_other_are_one_short_line(tmp_path):
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        "Host a\n  HostName 127.0.0.1\n  ProxyJump b\n"
        "Host b\n  HostName 127.0.0.1\n  ProxyJump c\n"
        "Host c\n  HostName 127.0.0.1\n  ProxyJump a\n"
    )
    with pytest.raises(RemoteError) as e:
        SSHPool(cfg, connect_timeout=3).exec("a", "true")
    msg = str(e.value)
    assert "the ProxyJump chain of a loops (a -> b -> c -> a)" in msg, msg[:500]
    assert len(msg) < 600 and "\n" not in msg and "Recursion" not in msg, msg[:500]


# ---- files that are named pipes or folders ----------------------------------------------------------


def test_an_identity_file_that_is_a_pipe_or_a_folder_is_refused_at_once(tmp_path):
    fifo = tmp_path / "id_fifo"
    os.mkfifo(fifo)
    cfg = tmp_path / "ssh_config"
    for key, why in ((fifo, "is not a regular file"), (tmp_path, "")):
        cfg.write_text(f"Host h\n  HostName 127.0.0.1\n  Port 1\n  IdentityFile {key}\n")
        # the open of the pipe blocked until someone wrote to it: `arcctl hosts` never returned
        _one_line(_hosts(cfg, "h", "--timeout", "2", timeout=30), f"IdentityFile {key} for host h", why)


def test_an_ssh_config_that_is_a_pipe_is_one_line(tmp_path):
    fifo = tmp_path / "ssh_config"
    os.mkfifo(fifo)
    _one_line(_hosts(fifo, "h", "--timeout", "2", timeout=30), f"ssh config {fifo} is not a regular file")


@pytest.mark.sshd
def test_a_known_hosts_file_that_is_a_pipe_is_skipped_and_named(sshd, tmp_path):
    fifo = tmp_path / "known_hosts"
    os.mkfifo(fifo)
    cfg = sshd.ssh_config(tmp_path / "ssh_config", known_hosts=fifo)
    line = _one_line(_hosts(cfg, "testhost", "--timeout", "5", timeout=30), "testhost", "is unknown")
    assert f"{fifo}: not a regular file" in line
    glob = tmp_path / "global_known_hosts"
    glob.write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_pub}\n")
    cfg = sshd.ssh_config(tmp_path / "ssh_config", known_hosts=fifo, extra=f"  GlobalKnownHostsFile {glob}\n")
    res = _hosts(cfg, "testhost", "--timeout", "5", timeout=30)
    assert res.returncode == 0 and " ok " in res.stdout, res.stdout + res.stderr


# ---- a key of another type --------------------------------------------------------------------------


@pytest.mark.sshd
def test_a_host_known_under_another_key_type_is_refused_as_changed(sshd, tmp_path):
    """known_hosts has an ECDSA key for the host; the server (ed25519 only) no longer presents
    one. That is what a reinstalled host or a man in the middle looks like, not a new host
    (paramiko already says so: a guard, this passed before round 4 too)."""
    key = tmp_path / "old_ecdsa"
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(key)], check=True)
    old_pub = " ".join(Path(f"{key}.pub").read_text().split()[:2])
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {old_pub}\n")
    cfg = sshd.ssh_config(tmp_path / "ssh_config", known_hosts=known)
    with pytest.raises(RemoteError, match=r"host key of testhost .*CHANGED: known_hosts has SHA256:"):
        SSHPool(cfg).exec("testhost", "true")
    assert known.read_text() == f"[127.0.0.1]:{sshd.port} {old_pub}\n"
