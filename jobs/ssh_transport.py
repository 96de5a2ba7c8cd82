"""SSH transport (paramiko): hosts from ~/.ssh/config, strict host keys, one pooled connection per
host that is re-opened after a drop, and SFTP sessions leased one per thread (the SFTP `RunFS`
that run-dir readers use remotely is jobs.sftp_runfs.SFTPFS).

Every failure a user can cause surfaces as one `RemoteError` line naming the host: unreachable,
unknown, changed or revoked host key (with the SHA256 fingerprint to verify), a malformed
known_hosts, unusable key file, permission denied, a broken proxy. An unknown host key is refused,
never added: the user verifies the fingerprint and adds it (jobs.known_hosts). Hosts, proxies and
known_hosts files come from the ssh config (jobs.ssh_config).
"""

from __future__ import annotations

import errno
import logging
import os
import posixpath
import shlex
import socket
import stat
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import paramiko

from jobs.errors import RemoteError
from jobs.ssh_channel import NoAnswer, NotSFTP, TooMuchOutput, open_sftp, run_channel
from jobs.ssh_proxy import Proxy, raise_if_proxy_failed
from jobs.ssh_answers import _ANSWERS, MAX_LINKS, MAX_TEXT, LinkLoop, NotRegularFile, TooLarge  # noqa: F401 (re-exported)
from jobs.known_hosts import fingerprint, load_known_hosts, scan_host_key, trust_host  # noqa: F401 (re-exported)

# re-exported: callers import these from here
from jobs.ssh_config import DEFAULT_CONFIG, DEFAULT_KNOWN_HOSTS, HostConfig  # noqa: F401
from jobs.ssh_config import list_host_aliases, parse_hop, resolve_host, ssh_config_path  # noqa: F401

# paramiko's transport thread logs each failed handshake with its traceback; without a handler
# Python prints that to stderr next to our one-line error
logging.getLogger("paramiko").addHandler(logging.NullHandler())

# every error class paramiko and the socket layer raise while connecting or talking; each one
# becomes one RemoteError line naming the host
_SSH_ERRORS = (
    paramiko.SSHException,
    paramiko.hostkeys.InvalidHostKey,
    EOFError,
    OSError,
    ValueError,
    paramiko.sftp.SFTPError,
)


class _RefuseUnknownHost(paramiko.MissingHostKeyPolicy):
    """Refuse with the fingerprint to verify; never adds a key by itself."""

    def __init__(self, cfg: HostConfig, problems: list[str]):
        self.cfg = cfg
        self.problems = problems

    def missing_host_key(self, client, hostname, key):
        where = ", ".join(self.cfg.known_hosts + self.cfg.global_known_hosts) or "known_hosts"
        bad = f" (skipped: {'; '.join(self.problems[:3])})" if self.problems else ""
        raise RemoteError(
            f"host key of {self.cfg.label} is unknown: refusing to connect. Its {key.get_name()} key "
            f"fingerprint is {fingerprint(key)}; if that is right (ask the admin or run "
            f"`ssh-keyscan -p {self.cfg.port} {self.cfg.hostname} | ssh-keygen -lf -`), add it to {where} "
            f"(e.g. `ssh {self.cfg.alias}` once, or `arcctl hosts {self.cfg.alias} --trust {fingerprint(key)}`)"
            f"{bad}"
        )


def _check_identity_files(cfg: HostConfig) -> list[str]:
    usable = []
    for path in cfg.identity_files:
        try:
            st = os.stat(path)
            mode = st.st_mode
        except FileNotFoundError:
            raise RemoteError(f"IdentityFile {path} for host {cfg.alias} does not exist") from None
        except OSError as e:
            raise RemoteError(f"IdentityFile {path} for host {cfg.alias} cannot be read: {e.strerror or e}") from None
        if not stat.S_ISREG(mode):
            # reading a named pipe waits for a writer forever (every connect would hang), a
            # folder or a device is no key either
            raise RemoteError(f"IdentityFile {path} for host {cfg.alias} is not a regular file")
        try:
            paramiko.PKey.from_path(path)
        except paramiko.PasswordRequiredException:
            continue  # encrypted: only usable through the agent
        except (paramiko.SSHException, ValueError, OSError) as e:
            raise RemoteError(f"IdentityFile {path} for host {cfg.alias} is not a usable private key: {e}") from None
        if st.st_uid == os.getuid() and mode & 0o077:
            # ssh ignores such a key ("UNPROTECTED PRIVATE KEY FILE"): other users of this machine
            # may have copied it; paramiko used it as if nothing were wrong
            raise RemoteError(
                f"IdentityFile {path} for host {cfg.alias} can be read by other users (mode "
                f"{stat.S_IMODE(mode):04o}); ssh refuses such a key: `chmod 600 {path}`"
            )
        usable.append(path)
    return usable


def _why(e: BaseException) -> str:
    if isinstance(e, paramiko.ChannelException):  # the hop could not open the forwarded connection
        return f"the hop could not connect onwards ({e.text})"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__


class SSHPool:
    """One live connection per host alias, shared by backends, SFTP readers and the watcher."""

    def __init__(
        self, config_path: str | Path | None = None, connect_timeout: float = 10.0, sftp_timeout: float = 60.0
    ):
        self.config_path = config_path
        self.connect_timeout = connect_timeout
        # An SFTP answer that does not come (a server or network that stalls) blocked the reader,
        # i.e. `arcctl tail`, `fetch` or the dashboard's refresh, forever: past this many seconds
        # without a byte the call fails, and sftp_call retries once on a fresh connection.
        self.sftp_timeout = sftp_timeout
        self._clients: dict[str, paramiko.SSHClient] = {}
        # Idle SFTP sessions per host. Each thread leases its own (one channel each over the one
        # connection), so a long read in one worker never holds up another's small reads.
        self._sftp_idle: dict[str, list[paramiko.SFTPClient]] = {}
        self._no_sftp: set[str] = set()  # hosts whose login prints: files through exec instead
        self._sftp_busy: dict[str, int] = {}
        self._lock = threading.RLock()
        self._sftp_free = threading.Condition(self._lock)
        self.connects = 0  # how many connections were opened (reuse is the point)
        self._chain = threading.local()  # the hosts this thread is connecting to, outermost first
        self._transports: dict[str, str] = {}
        # per host: how long a request on its live connection may wait for an answer (its
        # ConnectTimeout: a server that answers the login answers a command's start as fast)
        self._answer_s: dict[str, float] = {}

    # ---------------------------------------------------------------- system ssh hosts
    def transport(self, alias: str) -> str:
        """ "paramiko", or "openssh" for hosts whose ssh config needs the system ssh (jobs.openssh)."""
        if alias not in self._transports:
            try:
                self._transports[alias] = self.host(alias).transport
            except RemoteError:  # a broken config entry: connecting reports it, with its context
                return "paramiko"
        return self._transports[alias]

    def openssh(self):
        from jobs.openssh import OpenSSH

        return OpenSSH(self.config_path, self.connect_timeout)

    # ---------------------------------------------------------------- connections
    def host(self, alias: str) -> HostConfig:
        """An alias of the ssh config, or a ProxyJump-style `[user@]host[:port]`."""
        return parse_hop(alias, self.config_path)

    def client(self, alias: str) -> paramiko.SSHClient:
        return self._client(alias, None)

    def _client(self, alias: str, jumps: list[str] | None) -> paramiko.SSHClient:
        """The pooled connection to ALIAS; JUMPS (a ProxyJump chain, given for the hops of another
        host's chain) replaces the hop's own proxy settings, as `ssh -J` does."""
        key = alias if jumps is None else ",".join([*jumps, alias])
        with self._lock:
            c = self._clients.get(key)
            if c is not None and c.get_transport() is not None and c.get_transport().is_active():
                return c
            self.drop(key)
            cfg = self.host(alias)
            if jumps is not None:
                cfg.proxy_jump, cfg.proxy_command = list(jumps), None
            # hosts whose ProxyJump point at each other (a -> b -> a) recursed until Python's
            # limit and made an error line of a thousand "cannot reach ... through ..." parts
            chain = self._chain.__dict__.setdefault("hosts", [])
            if alias in chain:
                raise RemoteError(
                    f"ssh config: the ProxyJump chain of {chain[0]} loops ({' -> '.join([*chain, alias])})"
                )
            chain.append(alias)
            try:
                c = self._connect(cfg, depth=len(jumps or ()))
            except RemoteError:
                raise
            except Exception as e:  # noqa: BLE001 - whatever paramiko raised: one line naming the host
                raise RemoteError(f"ssh to {cfg.label} failed: {type(e).__name__}: {_why(e)}") from None
            finally:
                chain.pop()
            self._clients[key] = c
            self._answer_s[key] = cfg.connect_timeout or self.connect_timeout
            return c

    def _sock(self, cfg: HostConfig, depth: int):
        """The byte stream to CFG's sshd: through the last ProxyJump hop (itself reached through
        the hops before it), a ProxyCommand, or a plain TCP connection."""
        timeout = cfg.connect_timeout or self.connect_timeout
        if cfg.proxy_jump:
            if depth > 16 or cfg.alias in cfg.proxy_jump:
                raise RemoteError(f"ssh config: the ProxyJump chain of {cfg.alias} loops ({', '.join(cfg.proxy_jump)})")
            *before, last = cfg.proxy_jump
            try:
                hop = self._client(last, before if before else None)
            except RemoteError as e:
                raise RemoteError(f"cannot reach {cfg.label} through ProxyJump {last}: {e}") from None
            try:
                return hop.get_transport().open_channel(
                    "direct-tcpip", (cfg.hostname, cfg.port), ("127.0.0.1", 0), timeout=timeout
                )
            except _SSH_ERRORS as e:
                raise RemoteError(f"cannot reach {cfg.label} through ProxyJump {last}: {_why(e)}") from None
        if cfg.proxy_command:
            try:
                return Proxy(cfg.proxy_command, cfg.label)
            except _SSH_ERRORS as e:
                raise RemoteError(f"ProxyCommand of {cfg.label} ({cfg.proxy_command}) failed: {_why(e)}") from None
        try:
            sock = socket.create_connection((cfg.hostname, cfg.port), timeout=timeout)
            # SSH is request/answer: without it, Nagle's algorithm holds a small packet back until
            # the last one is acknowledged, and the peer's delayed ACK makes that ~40 ms (the
            # login's several small messages paid it more than once)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except (socket.timeout, TimeoutError):
            raise RemoteError(f"cannot reach {cfg.label}: timed out after {timeout:g} s") from None
        except OSError as e:
            raise RemoteError(f"cannot reach {cfg.label}: {_why(e)}") from None

    def _connect(self, cfg: HostConfig, depth: int = 0) -> paramiko.SSHClient:
        if cfg.transport != "paramiko":
            raise RemoteError(
                f"{cfg.label} is reached through the system ssh (its ssh config sets a "
                "ControlPath or GSSAPI); paramiko cannot connect to it"
            )
        timeout = cfg.connect_timeout or self.connect_timeout
        known = load_known_hosts(cfg.known_hosts + cfg.global_known_hosts)
        client = paramiko.SSHClient()
        for host, keys in known.keys.items():
            for ktype, k in keys.items():
                client.get_host_keys().add(host, ktype, k)
        client.set_missing_host_key_policy(_RefuseUnknownHost(cfg, known.problems))
        keys = _check_identity_files(cfg)
        sock = self._sock(cfg, depth)
        # known_hosts is looked up under HostKeyAlias (port 22 form) when the config sets one
        name, port = (cfg.host_key_alias, 22) if cfg.host_key_alias else (cfg.hostname, cfg.port)
        try:
            client.connect(
                name,
                port=port,
                username=cfg.user,
                key_filename=keys or None,
                look_for_keys=not cfg.identity_files,
                allow_agent=not (cfg.identities_only and cfg.identity_files),
                sock=sock,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                compress=cfg.compression,
            )
            server_key = client.get_transport().get_remote_server_key()
            if server_key.asbytes() in known.revoked:
                raise RemoteError(
                    f"host key {fingerprint(server_key)} of {cfg.label} is marked @revoked in "
                    "known_hosts: refusing to connect"
                )
        except RemoteError:
            client.close()
            raise
        except paramiko.BadHostKeyException as e:
            client.close()
            raise RemoteError(
                f"host key of {cfg.label} CHANGED: known_hosts has {fingerprint(e.expected_key)}, the server "
                f"sent {fingerprint(e.key)}. Refusing to connect (a reinstalled host, or someone in between); "
                f"verify with the admin, then fix the entry for {cfg.known_hosts_key}"
            ) from None
        except paramiko.AuthenticationException as e:
            client.close()
            tried = ", ".join(keys) or "ssh-agent / default keys"
            raise RemoteError(f"permission denied for {cfg.label} (tried {tried}): {_why(e)}") from None
        except (socket.timeout, TimeoutError):
            raise_if_proxy_failed(sock, timeout, client)
            client.close()
            raise RemoteError(f"cannot reach {cfg.label}: timed out after {timeout:g} s") from None
        except paramiko.SSHException as e:
            raise_if_proxy_failed(sock, timeout, client)
            client.close()
            if "No authentication methods" in str(e):
                raise RemoteError(
                    f"permission denied for {cfg.label}: no key to offer (no IdentityFile in the "
                    f"ssh config, no ssh-agent at SSH_AUTH_SOCK, no ~/.ssh/id_* keys)"
                ) from None
            if "banner" in str(e) or "No existing session" in str(e):
                raise RemoteError(
                    f"{cfg.label} did not answer as an SSH server within {timeout:g} s "
                    f"({_why(e)}); is an sshd listening on port {cfg.port}?"
                ) from None
            raise RemoteError(f"ssh to {cfg.label} failed: {_why(e)}") from None
        except _SSH_ERRORS as e:
            raise_if_proxy_failed(sock, timeout, client)
            client.close()
            raise RemoteError(f"cannot reach {cfg.label}: {_why(e)}") from None
        if cfg.server_alive_interval > 0:
            client.get_transport().set_keepalive(cfg.server_alive_interval)
        self.connects += 1
        return client

    def answer_seconds(self, alias: str) -> float:
        """How long a request on ALIAS's live connection may wait for the server's answer."""
        return self._answer_s.get(alias, self.connect_timeout)

    def drop(self, alias: str) -> None:
        with self._lock:
            idle = self._sftp_idle.pop(alias, [])
            c = self._clients.pop(alias, None)
        for obj in (*idle, c):
            if obj is not None:
                try:
                    obj.close()
                except Exception:
                    pass

    def close(self) -> None:
        for key in list(self._clients):
            self.drop(key)

    # ---------------------------------------------------------------- commands
    def exec(
        self, alias: str, command: str, input: str | None = None, timeout: float | None = 120
    ) -> tuple[int, str, str]:
        """Run one shell line; returns (rc, stdout, stderr). Retried once on a fresh connection only
        when the channel could not be opened (so a command never runs twice)."""
        rc, out, err = self.exec_bytes(alias, command, input=input, timeout=timeout)
        return rc, out.decode(errors="replace"), err

    def exec_bytes(
        self, alias: str, command: str, input: str | None = None, timeout: float | None = 120
    ) -> tuple[int, bytes, str]:
        """exec, with stdout as the bytes printed."""
        if self.transport(alias) == "openssh":
            return self.openssh().exec_bytes(alias, command, input=input, timeout=timeout)
        for attempt in (0, 1):
            client = self.client(alias)
            try:
                chan = client.get_transport().open_session(timeout=self.connect_timeout)
            except (*_SSH_ERRORS, AttributeError):
                self.drop(alias)
                if attempt:
                    raise RemoteError(f"lost the connection to {alias} and could not re-open it") from None
                continue
            try:
                return run_channel(
                    chan, command, input, timeout, self._answer_s.get(alias, self.connect_timeout), MAX_OUTPUT
                )
            except NoAnswer as e:  # a server that stopped answering: this connection is no use
                self.drop(alias)
                return 124, b"", f"{alias} took the login, then gave {e}"
            except TooMuchOutput as e:
                raise RemoteError(
                    f"`{command[:80]}` on {alias} printed more than {e.limit // 2**20} MB; stopped it"
                ) from None
            except _SSH_ERRORS as e:
                self.drop(alias)
                raise RemoteError(f"connection to {alias} dropped while running `{command[:80]}`: {_why(e)}") from None
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- sftp
    SFTP_SESSIONS = 6  # per host, below sshd's default MaxSessions (10) next to exec channels

    @contextmanager
    def sftp_session(self, alias: str) -> Iterator[paramiko.SFTPClient]:
        """An SFTP session of ALIAS for this thread alone until the block ends (then kept for
        the next caller); at most SFTP_SESSIONS at once per host, more callers wait."""
        s = self._lease_sftp(alias)
        try:
            yield s
        except BaseException as e:
            self._release_sftp(alias, s, keep=not _broken(e))
            raise
        self._release_sftp(alias, s, keep=True)

    def _lease_sftp(self, alias: str) -> paramiko.SFTPClient:
        with self._sftp_free:
            while True:
                idle = self._sftp_idle.get(alias, [])
                while idle:
                    s = idle.pop()
                    if self._live(alias, s):
                        self._sftp_busy[alias] = self._sftp_busy.get(alias, 0) + 1
                        return s
                    _close(s)
                if self._sftp_busy.get(alias, 0) < self.SFTP_SESSIONS:
                    break
                self._sftp_free.wait(1.0)
            self._sftp_busy[alias] = self._sftp_busy.get(alias, 0) + 1
        try:  # connecting and opening a channel: outside the lock, other hosts are not held up
            client = self.client(alias)
            return open_sftp(client.get_transport(), self._answer_s.get(alias, self.connect_timeout), self.sftp_timeout)
        except BaseException as e:
            with self._sftp_free:
                self._sftp_busy[alias] -= 1
                self._sftp_free.notify()
            if isinstance(e, NotSFTP):
                self._no_sftp.add(alias)
            if isinstance(e, NoAnswer):
                self.drop(alias)
                raise RemoteError(f"cannot open SFTP on {alias}: the host took the login, then gave {e}") from None
            if isinstance(e, _SSH_ERRORS) and not isinstance(e, RemoteError):
                self.drop(alias)
                raise RemoteError(f"cannot open SFTP on {alias}: {_why(e)}") from None
            raise

    def _release_sftp(self, alias: str, s: paramiko.SFTPClient, keep: bool) -> None:
        with self._sftp_free:
            self._sftp_busy[alias] -= 1
            if keep and self._live(alias, s) and len(self._sftp_idle.get(alias, [])) < self.SFTP_SESSIONS:
                self._sftp_idle.setdefault(alias, []).append(s)
                s = None
            self._sftp_free.notify()
        if s is not None:
            _close(s)

    def _live(self, alias: str, s: paramiko.SFTPClient) -> bool:
        """S still runs over the pooled connection to ALIAS (not one dropped and re-opened since)."""
        c = self._clients.get(alias)
        t = c.get_transport() if c is not None else None
        chan = s.get_channel()
        return t is not None and t.is_active() and chan is not None and not chan.closed and chan.get_transport() is t

    def sftp_call(self, alias: str, fn):
        """Run `fn(sftp)` on a session of this thread's own; reads are idempotent, so a dropped
        connection is re-opened and retried once."""
        for attempt in (0, 1):
            try:
                with self.sftp_session(alias) as s:
                    return fn(s)
            except (*_ANSWERS, RemoteError):
                raise
            except _SSH_ERRORS as e:
                self.drop(alias)
                if attempt:
                    raise RemoteError(f"SFTP on {alias} failed: {_why(e)}") from None

    def no_sftp(self, alias: str) -> bool:
        """ALIAS's login prints to stdout, so SFTP cannot start there (found on a first try)."""
        return alias in self._no_sftp

    def write_text(self, alias: str, path: str, text: str, mode: int | None = None) -> None:
        if self.transport(alias) == "openssh" or self.no_sftp(alias):
            return self.exec_files(alias).write_text(alias, path, text, mode)

        def put(s: paramiko.SFTPClient) -> None:
            _sftp_makedirs(s, posixpath.dirname(path))
            tmp = path + ".tmp"
            with s.open(tmp, "w") as f:
                f.write(text.encode())
            if mode is not None:
                s.chmod(tmp, mode)
            s.posix_rename(tmp, path)

        self._sftp_or_exec(alias, put, lambda f: f.write_text(alias, path, text, mode))

    def makedirs(self, alias: str, path: str) -> None:
        if self.transport(alias) == "openssh" or self.no_sftp(alias):
            return self.exec_files(alias).makedirs(alias, path)
        self._sftp_or_exec(alias, lambda s: _sftp_makedirs(s, path), lambda f: f.makedirs(alias, path))

    def _sftp_or_exec(self, alias: str, sftp_fn, exec_fn) -> None:
        """SFTP_FN over SFTP; on a host found unable to start SFTP, EXEC_FN through commands."""
        try:
            self.sftp_call(alias, sftp_fn)
        except RemoteError:
            if not self.no_sftp(alias):
                raise
            exec_fn(self.exec_files(alias))

    def exec_files(self, alias: str):
        """The system ssh's file commands (jobs.openssh) for ALIAS: through it, or over this
        pool's exec channel for a paramiko host without SFTP (jobs.ssh_exec_files)."""
        if self.transport(alias) == "openssh":
            return self.openssh()
        from jobs.ssh_exec_files import PoolExec

        return PoolExec(self)

    def download_dir(
        self, alias: str, remote: str, local: str | Path, on_bytes: Callable[[int], None] | None = None
    ) -> int:
        """Copy a remote directory tree to `local` (jobs.ssh_fetch.download_dir); returns bytes."""
        from jobs.ssh_fetch import download_dir

        return download_dir(self, alias, remote, Path(local), on_bytes)


# What one remote command may print (stdout and stderr together): scheduler listings of thousands of
# jobs are a few MB; past this the command is stopped instead of filling this process's memory.
MAX_OUTPUT = 256 * 2**20


def _broken(e: BaseException) -> bool:
    """E says the SFTP session may be unusable (not just the server's answer about a file)."""
    return not isinstance(e, _ANSWERS) and isinstance(e, (*_SSH_ERRORS, RemoteError))


def _close(obj: Any) -> None:
    try:
        obj.close()
    except Exception:  # noqa: BLE001 - closing something already broken
        pass


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


def __getattr__(name: str) -> Any:
    """SFTPFS lives in jobs.sftp_runfs; it is imported from here too (loaded on first use)."""
    if name == "SFTPFS":
        from jobs.sftp_runfs import SFTPFS

        return SFTPFS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
