"""SSH transport (paramiko): hosts from ~/.ssh/config, strict host keys, one pooled connection per
host that is re-opened after a drop, and an SFTP `RunFS` so run-dir readers work remotely.

Every failure a user can cause surfaces as `RemoteError` naming the host: unreachable, unknown or
changed host key (with the SHA256 fingerprint to verify), unusable key file, permission denied.
An unknown host key is refused, never added: the user verifies the fingerprint and adds it.
"""
from __future__ import annotations

import base64
import errno
import hashlib
import os
import posixpath
import shlex
import socket
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable

import paramiko

from jobs.errors import RemoteError

DEFAULT_CONFIG = "~/.ssh/config"
DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")


def ssh_config_path() -> Path:
    """ARCCTL_SSH_CONFIG overrides ~/.ssh/config (tests, or a project-specific config)."""
    return Path(os.path.expanduser(os.environ.get("ARCCTL_SSH_CONFIG") or DEFAULT_CONFIG))


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's format, as `ssh-keygen -lf` and the first-connect prompt print it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@dataclass
class HostConfig:
    alias: str
    hostname: str
    port: int = 22
    user: str | None = None
    identity_files: list[str] = field(default_factory=list)
    known_hosts: list[str] = field(default_factory=list)
    proxy_jump: str | None = None

    @property
    def label(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"{self.alias} ({user}{self.hostname}:{self.port})"

    @property
    def known_hosts_key(self) -> str:
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


def resolve_host(alias: str, config_path: str | Path | None = None) -> HostConfig:
    path = Path(os.path.expanduser(str(config_path))) if config_path else ssh_config_path()
    cfg = paramiko.SSHConfig()
    if path.exists():
        try:
            cfg = paramiko.SSHConfig.from_path(str(path))
        except Exception as e:  # paramiko raises ConfigParseError and plain exceptions
            raise RemoteError(f"cannot parse ssh config {path}: {e}") from None
    d = cfg.lookup(alias)
    try:
        port = int(d.get("port", 22))
    except ValueError:
        raise RemoteError(f"ssh config {path}: Port of host {alias} is not a number: {d.get('port')!r}") from None
    known = d.get("userknownhostsfile")
    known_files = known.split() if isinstance(known, str) else list(known or DEFAULT_KNOWN_HOSTS)
    jump = d.get("proxyjump")
    return HostConfig(
        alias=alias,
        hostname=d.get("hostname", alias),
        port=port,
        user=d.get("user") or os.environ.get("USER") or None,
        identity_files=[os.path.expanduser(p) for p in d.get("identityfile", [])],
        known_hosts=[os.path.expanduser(p) for p in known_files],
        proxy_jump=None if not jump or jump.lower() == "none" else jump.split(",")[0].strip(),
    )


class _RefuseUnknownHost(paramiko.MissingHostKeyPolicy):
    """Refuse with the fingerprint to verify; never adds a key by itself."""

    def __init__(self, cfg: HostConfig):
        self.cfg = cfg

    def missing_host_key(self, client, hostname, key):
        where = ", ".join(self.cfg.known_hosts) or "known_hosts"
        raise RemoteError(
            f"host key of {self.cfg.label} is unknown: refusing to connect. Its {key.get_name()} key "
            f"fingerprint is {fingerprint(key)}; if that is right (ask the admin or run "
            f"`ssh-keyscan -p {self.cfg.port} {self.cfg.hostname} | ssh-keygen -lf -`), add it to {where} "
            f"(e.g. `ssh {self.cfg.alias}` once, or `arcctl hosts {self.cfg.alias} --trust {fingerprint(key)}`)"
        )


def _check_identity_files(cfg: HostConfig) -> list[str]:
    usable = []
    for path in cfg.identity_files:
        if not os.path.exists(path):
            raise RemoteError(f"IdentityFile {path} for host {cfg.alias} does not exist")
        try:
            paramiko.PKey.from_path(path)
        except paramiko.PasswordRequiredException:
            continue  # encrypted: only usable through the agent
        except (paramiko.SSHException, ValueError, OSError) as e:
            raise RemoteError(f"IdentityFile {path} for host {cfg.alias} is not a usable private key: {e}") from None
        usable.append(path)
    return usable


class SSHPool:
    """One live connection per host alias, shared by backends, SFTP readers and the watcher."""

    def __init__(self, config_path: str | Path | None = None, connect_timeout: float = 10.0):
        self.config_path = config_path
        self.connect_timeout = connect_timeout
        self._clients: dict[str, paramiko.SSHClient] = {}
        self._sftp: dict[str, paramiko.SFTPClient] = {}
        self._lock = threading.RLock()
        self.connects = 0  # how many connections were opened (reuse is the point)

    # ---------------------------------------------------------------- connections
    def host(self, alias: str) -> HostConfig:
        """An alias of the ssh config, or a ProxyJump-style `[user@]host[:port]`."""
        user, _, rest = alias.rpartition("@")
        name, _, port = rest.partition(":")
        cfg = resolve_host(name, self.config_path)
        if user:
            cfg.user = user
        if port:
            if not port.isdigit():
                raise RemoteError(f"ssh host {alias!r}: port {port!r} is not a number")
            cfg.port = int(port)
        cfg.alias = alias
        return cfg

    def client(self, alias: str) -> paramiko.SSHClient:
        with self._lock:
            c = self._clients.get(alias)
            if c is not None and c.get_transport() is not None and c.get_transport().is_active():
                return c
            self.drop(alias)
            c = self._connect(self.host(alias))
            self._clients[alias] = c
            return c

    def _connect(self, cfg: HostConfig) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        for kh in cfg.known_hosts:
            if os.path.exists(kh):
                try:
                    client.load_host_keys(kh)
                except (OSError, paramiko.SSHException) as e:
                    raise RemoteError(f"cannot read known_hosts file {kh} for host {cfg.alias}: {e}") from None
        client.set_missing_host_key_policy(_RefuseUnknownHost(cfg))
        keys = _check_identity_files(cfg)
        sock = None
        if cfg.proxy_jump:
            jump_alias = cfg.proxy_jump
            if jump_alias == cfg.alias:
                raise RemoteError(f"ssh config: host {cfg.alias} has itself as ProxyJump")
            try:
                sock = self.client(jump_alias).get_transport().open_channel(
                    "direct-tcpip", (cfg.hostname, cfg.port), ("127.0.0.1", 0), timeout=self.connect_timeout)
            except paramiko.SSHException as e:
                raise RemoteError(f"cannot reach {cfg.label} through ProxyJump {jump_alias}: {e}") from None
        try:
            client.connect(
                cfg.hostname, port=cfg.port, username=cfg.user, key_filename=keys or None,
                look_for_keys=not cfg.identity_files, allow_agent=True, sock=sock,
                timeout=self.connect_timeout, banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
            )
        except RemoteError:
            client.close()
            raise
        except paramiko.BadHostKeyException as e:
            client.close()
            raise RemoteError(
                f"host key of {cfg.label} CHANGED: known_hosts has {fingerprint(e.expected_key)}, the server "
                f"sent {fingerprint(e.key)}. Refusing to connect (a reinstalled host, or someone in between); "
                f"verify with the admin, then fix the entry for {cfg.known_hosts_key}") from None
        except paramiko.AuthenticationException as e:
            client.close()
            tried = ", ".join(keys) or "ssh-agent / default keys"
            raise RemoteError(f"permission denied for {cfg.label} (tried {tried}): {e}") from None
        except (socket.timeout, TimeoutError):
            client.close()
            raise RemoteError(f"cannot reach {cfg.label}: timed out after {self.connect_timeout:g} s") from None
        except (OSError, paramiko.ssh_exception.NoValidConnectionsError) as e:
            client.close()
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise RemoteError(f"cannot reach {cfg.label}: {reason}") from None
        except paramiko.SSHException as e:
            client.close()
            if "No authentication methods" in str(e):
                raise RemoteError(f"permission denied for {cfg.label}: no key to offer (no IdentityFile in the "
                                  f"ssh config, no ssh-agent at SSH_AUTH_SOCK, no ~/.ssh/id_* keys)") from None
            raise RemoteError(f"ssh to {cfg.label} failed: {e}") from None
        self.connects += 1
        return client

    def drop(self, alias: str) -> None:
        with self._lock:
            s = self._sftp.pop(alias, None)
            c = self._clients.pop(alias, None)
        for obj in (s, c):
            if obj is not None:
                try:
                    obj.close()
                except Exception:
                    pass

    def close(self) -> None:
        for alias in list(self._clients):
            self.drop(alias)

    # ---------------------------------------------------------------- commands
    def exec(self, alias: str, command: str, input: str | None = None,
             timeout: float | None = 120) -> tuple[int, str, str]:
        """Run one shell line; returns (rc, stdout, stderr). Retried once on a fresh connection only
        when the channel could not be opened (so a command never runs twice)."""
        for attempt in (0, 1):
            client = self.client(alias)
            try:
                chan = client.get_transport().open_session(timeout=self.connect_timeout)
            except (paramiko.SSHException, EOFError, OSError, AttributeError):
                self.drop(alias)
                if attempt:
                    raise RemoteError(f"lost the connection to {alias} and could not re-open it") from None
                continue
            try:
                return self._run_channel(chan, command, input, timeout)
            except (paramiko.SSHException, EOFError, OSError) as e:
                self.drop(alias)
                raise RemoteError(f"connection to {alias} dropped while running `{command[:80]}`: {e}") from None
        raise AssertionError("unreachable")

    @staticmethod
    def _run_channel(chan: paramiko.Channel, command: str, input: str | None,
                     timeout: float | None) -> tuple[int, str, str]:
        chan.exec_command(command)
        if input:
            chan.sendall(input.encode())
        chan.shutdown_write()
        out, err = bytearray(), bytearray()
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            busy = False
            if chan.recv_ready():
                out += chan.recv(65536)
                busy = True
            if chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
                busy = True
            if not busy:
                if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                if chan.closed and not chan.exit_status_ready():
                    raise EOFError("channel closed before the command finished")
                if end is not None and time.monotonic() > end:
                    chan.close()
                    return 124, out.decode(errors="replace"), f"timed out after {timeout} s"
                time.sleep(0.002)
        rc = chan.recv_exit_status()
        chan.close()
        return rc, out.decode(errors="replace"), err.decode(errors="replace")

    # ---------------------------------------------------------------- sftp
    def sftp(self, alias: str) -> paramiko.SFTPClient:
        with self._lock:
            s = self._sftp.get(alias)
            c = self._clients.get(alias)
            if s is not None and c is not None and c.get_transport() is not None and c.get_transport().is_active():
                return s
            self._sftp.pop(alias, None)
            try:
                s = self.client(alias).open_sftp()
            except paramiko.SSHException as e:
                self.drop(alias)
                raise RemoteError(f"cannot open SFTP on {alias}: {e}") from None
            self._sftp[alias] = s
            return s

    def sftp_call(self, alias: str, fn):
        """Run `fn(sftp)`; reads are idempotent, so a dropped connection is re-opened and retried once."""
        for attempt in (0, 1):
            try:
                return fn(self.sftp(alias))
            except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError):
                raise
            except (paramiko.SSHException, EOFError, socket.error) as e:
                self.drop(alias)
                if attempt:
                    raise RemoteError(f"SFTP on {alias} failed: {e}") from None

    def write_text(self, alias: str, path: str, text: str, mode: int | None = None) -> None:
        def put(s: paramiko.SFTPClient) -> None:
            _sftp_makedirs(s, posixpath.dirname(path))
            tmp = path + ".tmp"
            with s.open(tmp, "w") as f:
                f.write(text.encode())
            if mode is not None:
                s.chmod(tmp, mode)
            s.posix_rename(tmp, path)

        self.sftp_call(alias, put)

    def makedirs(self, alias: str, path: str) -> None:
        self.sftp_call(alias, lambda s: _sftp_makedirs(s, path))

    def download_dir(self, alias: str, remote: str, local: str | Path,
                     on_bytes: Callable[[int], None] | None = None) -> int:
        """Copy a remote directory tree to `local` (must not exist); written to a `.partial` sibling
        first and renamed at the end, so an interrupted copy never looks complete. Returns bytes;
        `on_bytes(n)` is told of every chunk as it arrives (progress bars)."""
        local = Path(local)
        if local.exists():
            raise RemoteError(f"destination {local} already exists; not overwriting it")
        partial = local.with_name(local.name + ".partial")
        total = 0

        def walk(s: paramiko.SFTPClient, src: str, dst: Path) -> None:
            nonlocal total
            dst.mkdir(parents=True, exist_ok=True)
            for a in s.listdir_attr(src):
                rp = posixpath.join(src, a.filename)
                if stat.S_ISDIR(a.st_mode or 0):
                    walk(s, rp, dst / a.filename)
                else:
                    seen = [0]

                    def chunk(got: int, _size: int) -> None:
                        if on_bytes is not None:
                            on_bytes(got - seen[0])
                        seen[0] = got

                    s.get(rp, str(dst / a.filename), callback=chunk)
                    total += a.st_size or 0

        try:
            self.sftp_call(alias, lambda s: s.stat(remote))
        except FileNotFoundError:
            raise RemoteError(f"{remote} does not exist on {alias}") from None
        import shutil

        shutil.rmtree(partial, ignore_errors=True)
        self.sftp_call(alias, lambda s: walk(s, remote, partial))
        partial.rename(local)
        return total


def _sftp_makedirs(s: paramiko.SFTPClient, path: str) -> None:
    if not path or path == "/":
        return
    try:
        if stat.S_ISDIR(s.stat(path).st_mode or 0):
            return
        raise NotADirectoryError(errno.ENOTDIR, f"{path} exists and is not a directory")
    except FileNotFoundError:
        pass
    _sftp_makedirs(s, posixpath.dirname(path.rstrip("/")))
    try:
        s.mkdir(path)
    except OSError:
        if not stat.S_ISDIR(s.stat(path).st_mode or 0):
            raise


class SFTPFS:
    """jobs.rundir.RunFS over SFTP: `JsonlTail(path, SFTPFS(host))` tails a remote run dir."""

    def __init__(self, host: str, pool: SSHPool | None = None):
        self.host = host
        self.pool = pool or default_pool()

    def open_binary(self, path: str) -> IO[bytes]:
        f = self.pool.sftp_call(self.host, lambda s: s.open(path, "rb"))
        f.set_pipelined(True)
        return f

    def size(self, path: str) -> int:
        return self.pool.sftp_call(self.host, lambda s: s.stat(path).st_size)

    def exists(self, path: str) -> bool:
        try:
            self.size(path)
            return True
        except FileNotFoundError:
            return False

    def listdir(self, path: str) -> list[str]:
        return self.pool.sftp_call(self.host, lambda s: s.listdir(path))

    def read_text(self, path: str) -> str:
        def read(s):
            with s.open(path, "rb") as f:
                return f.read().decode("utf-8")

        return self.pool.sftp_call(self.host, read)


_DEFAULT: SSHPool | None = None


def default_pool() -> SSHPool:
    """The process-wide pool (CLI, dashboard and watcher share connections through it)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = SSHPool()
    return _DEFAULT


def expand_path(alias: str, path: str, pool: SSHPool | None = None) -> str:
    """`~` and $VARS of a path (a profile's runs_root) as the host's shell sees them: they name
    the remote user's home and environment, not this machine's. An unset variable is an error."""
    if "`" in path or "$(" in path:
        raise RemoteError(f"{alias}: path {path!r}: command substitution is not allowed in a path")
    if path == "~" or path.startswith("~/"):
        path = "$HOME" + path[1:]
    elif path.startswith("~"):
        raise RemoteError(f"{alias}: path {path!r}: only ~ (your own home) is supported, not ~user")
    quoted = path.replace("\\", "\\\\").replace('"', '\\"')  # inside "...": keep $VAR live, nothing else
    script = f'set -u; printf "%s" "{quoted}"'
    # through sh whatever the login shell is (tcsh reads `set -u` differently)
    rc, out, err = (pool or default_pool()).exec(alias, f"sh -c {shlex.quote(script)}", timeout=30)
    if rc != 0:
        raise RemoteError(f"{alias}: cannot expand {path!r} there: {err.strip() or f'exit {rc}'}")
    if not out.startswith("/"):
        raise RemoteError(f"{alias}: {path!r} expands to {out!r}, not an absolute path")
    return out


def list_host_aliases(config_path: str | Path | None = None) -> list[str]:
    """Concrete `Host` names of the ssh config (patterns such as `*` or `gpu-?` are left out)."""
    path = Path(os.path.expanduser(str(config_path))) if config_path else ssh_config_path()
    if not path.exists():
        return []
    try:
        cfg = paramiko.SSHConfig.from_path(str(path))
    except Exception as e:
        raise RemoteError(f"cannot parse ssh config {path}: {e}") from None
    return sorted(h for h in cfg.get_hostnames() if not any(c in h for c in "*?!"))


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
    except paramiko.SSHException as e:
        raise RemoteError(f"ssh handshake with {cfg.label} failed: {e}") from None
    finally:
        t.close()


def trust_host(alias: str, expected: str, config_path: str | Path | None = None) -> tuple[str, str]:
    """Add the host's key to known_hosts only if its fingerprint is the one the user verified.
    Returns (fingerprint, known_hosts path)."""
    cfg = resolve_host(alias, config_path)
    if cfg.proxy_jump:
        raise RemoteError(f"{alias} is reached through ProxyJump {cfg.proxy_jump}: add its key with `ssh {alias}`")
    key = scan_host_key(cfg)
    fp = fingerprint(key)
    want = expected.strip()
    if not want.startswith("SHA256:"):
        want = "SHA256:" + want
    if fp != want:
        raise RemoteError(f"fingerprint mismatch for {cfg.label}: the server presents {fp}, you gave {want}; "
                          f"nothing was added")
    path = Path(cfg.known_hosts[0] if cfg.known_hosts else os.path.expanduser(DEFAULT_KNOWN_HOSTS[0]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(f"{cfg.known_hosts_key} {key.get_name()} {key.get_base64()}\n")
    return fp, str(path)
