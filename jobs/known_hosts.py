"""known_hosts files: reading them as OpenSSH does (user files, then GlobalKnownHostsFile; a
malformed line is skipped and reported instead of making every connection fail; `@revoked` keys
are refused), and adding a key the user verified (`arcctl hosts HOST --trust SHA256:…`) with an
atomic, locked, newline-aware rewrite so an entry is never glued onto a line without one.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from paramiko.hostkeys import HostKeyEntry, InvalidHostKey

from jobs.errors import RemoteError
from jobs.output_file import replace_file
from jobs.ssh_config import DEFAULT_KNOWN_HOSTS, HostConfig


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's format, as `ssh-keygen -lf` and the first-connect prompt print it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@dataclass
class KnownHosts:
    keys: paramiko.HostKeys = field(default_factory=paramiko.HostKeys)
    revoked: set[bytes] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)  # "FILE line N: why", for error messages


def _entry(line: str, where: str, problems: list[str]) -> HostKeyEntry | None:
    try:
        entry = HostKeyEntry.from_line(line)
    except (InvalidHostKey, paramiko.SSHException, ValueError, TypeError, binascii.Error) as e:
        problems.append(f"{where}: not a valid entry ({type(e).__name__})")
        return None
    if entry is None or entry.key is None:
        problems.append(f"{where}: not a valid entry (too few fields or an unknown key type)")
        return None
    return entry


def load_known_hosts(files: list[str]) -> KnownHosts:
    """All keys of FILES (missing files are fine); unreadable files and bad lines are noted."""
    out = KnownHosts()
    for name in files:
        path = Path(name)
        if not path.exists():
            continue
        if not path.is_file():
            # a named pipe (UserKnownHostsFile /dev/stdin, a FIFO) blocked every connection on its
            # open, a device never ends: skipped and said, as a malformed line is
            out.problems.append(f"{path}: not a regular file")
            continue
        try:
            text = path.read_bytes().decode("utf-8", errors="replace")
        except OSError as e:
            out.problems.append(f"{path}: cannot read it ({e.strerror or e})")
            continue
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{path} line {n}"
            marker = None
            if line.startswith("@"):
                marker, _, line = line.partition(" ")
                line = line.strip()
            entry = _entry(line, where, out.problems)
            if entry is None:
                continue
            if marker == "@revoked":
                out.revoked.add(entry.key.asbytes())
            elif marker is None:  # @cert-authority: host certificates are not supported here
                for host in entry.hostnames:
                    out.keys.add(host, entry.key.get_name(), entry.key)
    return out


def scan_host_key(cfg: HostConfig, timeout: float = 10.0) -> paramiko.PKey:
    """The key the server presents (no authentication, nothing trusted)."""
    try:
        sock = socket.create_connection((cfg.hostname, cfg.port), timeout=timeout)
    except OSError as e:
        raise RemoteError(f"cannot reach {cfg.label}: {e.strerror or e}") from None
    t = paramiko.Transport(sock)
    try:
        t.start_client(timeout=timeout)
        return t.get_remote_server_key()
    except (paramiko.SSHException, EOFError, OSError) as e:
        raise RemoteError(f"ssh handshake with {cfg.label} failed: {e or type(e).__name__}") from None
    finally:
        t.close()


def add_known_host(path: str | Path, host: str, key: paramiko.PKey) -> bool:
    """Add `host keytype base64` to PATH: under an exclusive lock, into a temporary file next to
    it (same mode), renamed over it; a last line without newline gets one first. Returns False
    when the entry is already there. A different key of the same type for HOST is an error: the
    user removes it (`ssh-keygen -R`) after checking why it changed."""
    path = Path(os.path.realpath(os.path.expanduser(str(path))))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists() and not path.is_file():
            raise RemoteError(f"{path} is not a regular file; not adding a key to it")
        try:
            old = path.read_bytes() if path.exists() else b""
        except OSError as e:
            raise RemoteError(f"cannot read {path}: {e.strerror or e}") from None
        current = load_known_hosts([str(path)]).keys.lookup(host) or {}
        have = current.get(key.get_name())
        if have is not None:
            if have.asbytes() == key.asbytes():
                return False
            raise RemoteError(
                f"{path} already has a different {key.get_name()} key for {host} "
                f"({fingerprint(have)}); remove it with `ssh-keygen -R '{host}' -f {path}` "
                "if you know why it changed, then run this again"
            )
        if old and not old.endswith(b"\n"):
            old += b"\n"
        new = old + f"{host} {key.get_name()} {key.get_base64()}\n".encode()
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
        try:
            replace_file(path, new, mode)
        except OSError as e:
            raise RemoteError(f"cannot write {path}: {e.strerror or e}") from None
        return True


def trust_host(alias: str, expected: str, config_path: str | Path | None = None) -> tuple[str, str, bool]:
    """Add the host's key to the first user known_hosts file only if its fingerprint is the one
    the user verified. Returns (fingerprint, known_hosts path, whether it was added)."""
    from jobs.ssh_config import parse_hop

    # a hop as the unknown-key error names it (`root@[::1]:2222`), not only a config alias
    cfg = parse_hop(alias, config_path)
    if cfg.proxy_jump or cfg.proxy_command:
        via = f"ProxyJump {','.join(cfg.proxy_jump)}" if cfg.proxy_jump else "ProxyCommand"
        raise RemoteError(f"{alias} is reached through {via}: add its key with `ssh {alias}`")
    want = expected.strip()
    if not want.startswith("SHA256:"):
        want = "SHA256:" + want
    key = scan_host_key(cfg)
    fp = fingerprint(key)
    if fp != want:
        raise RemoteError(
            f"fingerprint mismatch for {cfg.label}: the server presents {fp}, you gave {want}; nothing was added"
        )
    path = cfg.known_hosts[0] if cfg.known_hosts else os.path.expanduser(DEFAULT_KNOWN_HOSTS[0])
    added = add_known_host(path, cfg.known_hosts_key, key)
    return fp, str(path), added
