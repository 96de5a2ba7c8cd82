"""known_hosts as users have them: `arcctl hosts HOST --trust` adds an entry atomically and on its
own line (also to a file without a trailing newline), never twice, never next to a conflicting key;
a malformed line is skipped instead of breaking every connection; GlobalKnownHostsFile and
@revoked are honoured; and every way a connection can fail is one line naming the host."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from jobs.errors import RemoteError
from jobs.known_hosts import add_known_host, load_known_hosts
from jobs.ssh_transport import SSHPool

ARCCTL = str(Path(sys.executable).parent / "arcctl")
OTHER = "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
pytestmark = pytest.mark.timeout(120)


def _fp(sshd) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", "-"], input=sshd.host_pub + "\n", capture_output=True, text=True)
    return out.stdout.split()[1]


def _hosts(config: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARCCTL_SSH_CONFIG": str(config)}
    return subprocess.run([ARCCTL, "hosts", *args], capture_output=True, text=True, env=env, timeout=90)


def _config(sshd, tmp_path: Path, known: Path, extra: str = "") -> Path:
    return sshd.ssh_config(tmp_path / "ssh_config", known_hosts=known, extra=extra)


def test_trust_into_a_file_without_trailing_newline_keeps_both_entries(sshd, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text(OTHER)  # the user's last entry has no newline
    known.chmod(0o644)
    cfg = _config(sshd, tmp_path, known)
    res = _hosts(cfg, "testhost", "--trust", _fp(sshd))
    assert res.returncode == 0, res.stderr
    assert f"added key {_fp(sshd)} to {known}" in res.stdout
    lines = known.read_text().splitlines()
    assert lines == [OTHER, f"[127.0.0.1]:{sshd.port} {sshd.host_pub}"]
    assert stat.S_IMODE(known.stat().st_mode) == 0o644  # the rewrite keeps the file's mode
    assert "ok" in _hosts(cfg, "testhost").stdout  # and the next connection works

    again = _hosts(cfg, "testhost", "--trust", _fp(sshd))  # a second trust adds nothing
    assert again.returncode == 0 and "already in" in again.stdout
    assert known.read_text().splitlines() == lines
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".known_hosts")] == []  # no temp left


def test_trust_through_a_symlink_updates_the_target(sshd, tmp_path):
    real = tmp_path / "dotfiles" / "known_hosts"
    real.parent.mkdir()
    real.write_text(OTHER + "\n")
    link = tmp_path / "known_hosts"
    link.symlink_to(real)
    res = _hosts(_config(sshd, tmp_path, link), "testhost", "--trust", _fp(sshd))
    assert res.returncode == 0, res.stderr
    assert link.is_symlink() and len(real.read_text().splitlines()) == 2


def test_trust_refuses_next_to_a_different_key_and_changes_nothing(sshd, tmp_path):
    known = tmp_path / "known_hosts"
    other_pub = " ".join(Path(str(sshd.other_key) + ".pub").read_text().split()[:2])  # a valid, wrong key
    known.write_text(f"[127.0.0.1]:{sshd.port} {other_pub}\n")
    before = known.read_bytes()
    res = _hosts(_config(sshd, tmp_path, known), "testhost", "--trust", _fp(sshd))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.count("\n") == 1 and "already has a different ssh-ed25519 key" in res.stderr
    assert known.read_bytes() == before


def test_concurrent_trusts_lose_no_entry(sshd, tmp_path):
    """Many writers at once (the lock + rename): every entry survives, each on its own line."""
    import paramiko

    known = tmp_path / "known_hosts"
    key = paramiko.PKey.from_path(str(sshd.user_key))
    threads = [threading.Thread(target=add_known_host, args=(known, f"host{i}", key)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = known.read_text().splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(f"host{i}" for i in range(20))


def test_a_malformed_line_is_skipped_not_fatal(sshd, tmp_path):
    known = tmp_path / "known_hosts"
    # what the old append produced: two entries glued on one line, then the real entry
    known.write_text(OTHER + f"[127.0.0.1]:1 {sshd.host_pub}\n" + f"[127.0.0.1]:{sshd.port} {sshd.host_pub}\n")
    cfg = _config(sshd, tmp_path, known)
    res = _hosts(cfg, "testhost")
    assert res.returncode == 0 and "ok" in res.stdout and "Traceback" not in res.stderr, res.stdout + res.stderr

    known.write_text(OTHER + f"[127.0.0.1]:{sshd.port} {sshd.host_pub}\n")  # only the glued line
    res = _hosts(cfg, "testhost")
    assert res.returncode == 1 and "Traceback" not in res.stdout + res.stderr
    [line] = res.stdout.strip().splitlines()
    assert "testhost" in line and "is unknown" in line and f"{known} line 1: not a valid entry" in line
    assert load_known_hosts([str(known)]).problems == [f"{known} line 1: not a valid entry (InvalidHostKey)"]


def test_global_known_hosts_file_is_honoured_and_revoked_keys_refused(sshd, tmp_path):
    user_known = tmp_path / "user_known_hosts"
    user_known.write_text("")
    glob = tmp_path / "ssh_known_hosts"
    glob.write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_pub}\n")
    cfg = _config(sshd, tmp_path, user_known, extra=f"  GlobalKnownHostsFile {glob}\n")
    pool = SSHPool(cfg)
    assert pool.exec("testhost", "echo hi")[1] == "hi\n"
    pool.close()

    glob.write_text(f"@revoked [127.0.0.1]:{sshd.port} {sshd.host_pub}\n[127.0.0.1]:{sshd.port} {sshd.host_pub}\n")
    with pytest.raises(RemoteError, match=r"testhost .*marked @revoked"):
        SSHPool(cfg).exec("testhost", "true")

    none = _config(sshd, tmp_path, user_known, extra="  GlobalKnownHostsFile none\n")
    with pytest.raises(RemoteError, match="host key of testhost .* is unknown"):
        SSHPool(none).exec("testhost", "true")


class _FakeServer:
    """A real TCP listener that is not an sshd: it sends garbage, closes at once, or stays silent."""

    def __init__(self, mode: str):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.mode == "garbage":
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" * 4)
                conn.close()
            elif self.mode == "close":
                conn.close()
            elif self.mode == "bad-version":
                conn.sendall(b"SSH-1.5-ancient\r\n")
                self.held.append(conn)
            else:
                self.held.append(conn)

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize(
    "case",
    [
        "refused",
        "garbage",
        "close",
        "silent",
        "bad-version",
        "wrong-key",
        "bad-identity",
        "proxycommand-fails",
        "proxyjump-unreachable",
        "bad-port",
        "unknown-host",
    ],
)
def test_every_connection_failure_is_one_line_naming_the_host(sshd, tmp_path, case):
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_pub}\n")
    server = None
    lines = {"host": "127.0.0.1", "port": sshd.port, "identity": sshd.user_key, "extra": ""}
    if case in ("garbage", "close", "silent", "bad-version"):
        server = _FakeServer(case)
        lines["port"] = server.port
    elif case == "refused":
        lines["port"] = _closed_port()
    elif case == "wrong-key":
        lines["identity"] = sshd.other_key
    elif case == "bad-identity":
        bad = tmp_path / "id_bad"
        bad.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n")
        lines["identity"] = bad
    elif case == "proxycommand-fails":
        lines["extra"] = "  ProxyCommand sh -c 'echo no route >&2; exit 1'\n"
    elif case == "proxyjump-unreachable":
        lines["extra"] = f"  ProxyJump root@127.0.0.1:{_closed_port()}\n"
    elif case == "bad-port":
        lines["port"] = "http"
    elif case == "unknown-host":
        lines["host"] = "no-such-host.invalid"
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        f"Host testhost\n  HostName {lines['host']}\n  Port {lines['port']}\n  User root\n"
        f"  IdentityFile {lines['identity']}\n  UserKnownHostsFile {known}\n{lines['extra']}"
    )
    try:
        res = _hosts(cfg, "testhost", "--timeout", "2")
    finally:
        if server:
            server.close()
    out = res.stdout + res.stderr
    assert res.returncode in (1, 2) and "Traceback" not in out, out
    [line] = out.strip().splitlines()
    assert "testhost" in line, line
