"""`Include` in the ssh config (round 5). paramiko's parser kept it as an unknown option and
never opened the files: a host defined in ~/.ssh/config.d/* (a common layout) was unknown to
arcctl while `ssh HOST` reached it. Now read as OpenSSH reads it (jobs.ssh_include): real files,
the real loopback sshd, the real binary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.errors import RemoteError
from jobs.ssh_config import list_host_aliases, resolve_host
from jobs.ssh_transport import SSHPool
from tests.clusters.cli_lines import one_line as _one_line

pytestmark = pytest.mark.timeout(90)
ARCCTL = str(Path(sys.executable).parent / "arcctl")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """HOME for ~ and for relative Include paths (~/.ssh/...)."""
    h = tmp_path / "home"
    (h / ".ssh" / "config.d").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(h))
    return h


def _hosts(config: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARCCTL_SSH_CONFIG": str(config), "HOME": str(home)}
    return subprocess.run([ARCCTL, "hosts", *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.sshd
def test_a_host_from_an_included_file_is_reached(sshd, home, tmp_path):
    (home / ".ssh" / "config.d" / "cluster.conf").write_text(
        f"Host target\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User root\n"
        f"  IdentityFile {sshd.user_key}\n  UserKnownHostsFile {sshd.known_hosts}\n"
    )
    cfg = tmp_path / "ssh_config"
    cfg.write_text("# the usual layout\nInclude config.d/*.conf\n")
    assert SSHPool(cfg).exec("target", "echo included") == (0, "included\n", "")
    assert list_host_aliases(cfg) == ["target"]
    res = _hosts(cfg, home)  # every Host of the config, included ones too
    assert res.returncode == 0 and res.stdout.startswith("target") and " ok " in res.stdout, res.stdout + res.stderr


def test_globs_in_lexical_order_tilde_absolute_and_missing_files(home, tmp_path):
    d = home / ".ssh" / "config.d"
    (d / "20-b.conf").write_text("Host x\n  Port 2002\n  User bee\n")
    (d / "10-a.conf").write_text("Host x\n  Port 2001\n")
    other = tmp_path / "abs.conf"
    other.write_text("Host y\n  HostName 10.0.0.9\n")
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        f'Include nothing-here.conf /no/such/dir/*.conf "~/.ssh/config.d/*.conf" {other}\n'
        "Host x\n  Port 2999\n  HostName 10.0.0.1\n"
    )
    x = resolve_host("x", cfg)
    assert (x.port, x.user, x.hostname) == (2001, "bee", "10.0.0.1")  # first value wins, files in name order
    assert resolve_host("y", cfg).hostname == "10.0.0.9"


def test_an_include_inside_a_host_block_applies_only_to_that_host(home, tmp_path):
    (home / ".ssh" / "inner.conf").write_text("Port 2201\nHost b\n  User bob\nHost *\n  Compression yes\n")
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host a\n  Include inner.conf\n  User alice\nHost b c\n  HostName 10.1.1.1\n")
    a, b, c = (resolve_host(h, cfg) for h in "abc")
    assert (a.port, a.user, a.compression) == (2201, "alice", True)
    assert (b.port, b.user, b.compression, b.hostname) == (22, os.environ.get("USER"), False, "10.1.1.1")
    assert (c.port, c.compression) == (22, False)


def test_a_match_exec_in_an_included_file_is_never_run(home, tmp_path):
    marker = tmp_path / "ran"
    (home / ".ssh" / "m.conf").write_text(f'Match exec "touch {marker}"\n  Port 1\n')
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Include m.conf\n")
    with pytest.raises(RemoteError, match="Match exec"):
        resolve_host("h", cfg)
    assert not marker.exists()


def test_an_include_that_loops_is_one_line(home, tmp_path):
    cfg = tmp_path / "ssh_config"
    (home / ".ssh" / "a.conf").write_text("Include b.conf\n")
    (home / ".ssh" / "b.conf").write_text("Host q\n  Include a.conf\n")
    cfg.write_text("Include a.conf\n")
    _one_line(_hosts(cfg, home, "q"), "includes itself", "a.conf -> ", "b.conf")
    cfg.write_text(f"Include {cfg}\n")
    _one_line(_hosts(cfg, home, "q"), f"ssh config {cfg}", "includes itself")


def test_more_than_16_levels_of_include_is_one_line(home, tmp_path):
    for i in range(20):
        (home / ".ssh" / f"l{i}.conf").write_text(f"Include l{i + 1}.conf\n")
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Include l0.conf\n")
    _one_line(_hosts(cfg, home, "q"), "more than 16 levels of Include", "included from")


@pytest.mark.parametrize("kind", ["fifo", "folder", "world-writable", "not-utf8"])
def test_an_included_file_that_cannot_be_read_safely(home, tmp_path, kind):
    bad = home / ".ssh" / "config.d" / "bad.conf"
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host q\n  HostName 10.9.9.9\nInclude config.d/*\n")
    if kind == "fifo":
        os.mkfifo(bad)  # opening it for reading waited for a writer: every lookup hung
        why = "is not a regular file"
    elif kind == "folder":
        bad.mkdir()
        why = "is not a regular file"
    elif kind == "world-writable":
        bad.write_text("Host *\n  ProxyCommand nc %h %p\n")
        bad.chmod(0o666)  # anyone on the machine could name a command for every host
        why = "bad owner or permissions"
    else:
        bad.write_bytes(b"Host q\n  User \xff\xfe\n")  # read with replacement characters, not an error
        assert resolve_host("q", cfg).user == "\ufffd\ufffd"
        return
    _one_line(_hosts(cfg, home, "q"), f"ssh config {bad} (included from {cfg} line 3)", why)


def test_an_unparsable_line_in_an_included_file_names_that_file(home, tmp_path):
    inc = home / ".ssh" / "broken.conf"
    inc.write_text("Host q\n  =oops\n")
    cfg = tmp_path / "ssh_config"
    cfg.write_text('Include "broken.conf"\nInclude "unterminated\n')
    _one_line(_hosts(cfg, home, "q"), f"ssh config {inc}")
    inc.write_text("Host q\n  Port 1\n")
    _one_line(_hosts(cfg, home, "q"), f"ssh config {cfg} line 2", "Include")
