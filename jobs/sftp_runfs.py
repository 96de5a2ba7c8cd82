"""The run-dir file system over SFTP (jobs.rundir.RunFS): `JsonlTail(path, SFTPFS(host))` tails a
remote run dir. Every file and call leases an SFTP session of its own from the host's pooled
connection (jobs.ssh_transport.SSHPool), so readers in several threads never wait for each other;
hosts that need the system ssh go through jobs.openssh.OpenSSHFS instead.
"""

from __future__ import annotations

import os
import posixpath
import stat
from typing import IO, Any

import paramiko

from jobs.errors import RemoteError
from jobs.ssh_answers import MAX_LINKS, MAX_TEXT, LinkLoop, NotRegularFile, TooLarge
from jobs.ssh_transport import _SSH_ERRORS, SSHPool, _broken, _why, default_pool


def _close_session(session: Any, keep: bool) -> None:
    """End a `with SSHPool.sftp_session(...)` entered by hand (a file that outlives the call)."""
    if keep:
        session.__exit__(None, None, None)
    else:
        e = EOFError("SFTP file failed")
        try:
            session.__exit__(type(e), e, None)
        except EOFError:
            pass


class SFTPFS:
    """jobs.rundir.RunFS over SFTP (through the system ssh, jobs.openssh.OpenSSHFS, for hosts
    that need it)."""

    def __init__(self, host: str, pool: SSHPool | None = None):
        self.host = host
        self.pool = pool or default_pool()
        self.system = None
        if self.pool.transport(host) == "openssh":
            from jobs.openssh import OpenSSHFS

            self.system = OpenSSHFS(self.pool.openssh(), host)

    # safe to use from several threads at once: each file and call leases its own SFTP session
    concurrent = True

    def _other(self) -> Any:
        """The reader that does not use paramiko's SFTP: the system ssh, or commands over the pool
        for a host whose login prints to stdout (SFTP cannot start there; the pool learns that
        at the first try)."""
        if self.system is None and self.pool.no_sftp(self.host):
            from jobs.ssh_exec_files import exec_fs

            self.system = exec_fs(self.pool, self.host)
        return self.system

    def _sftp_or_other(self, name: str, path: str, sftp: Any) -> Any:
        if self._other():
            return getattr(self.system, name)(path)
        try:
            return sftp()
        except RemoteError:
            if self._other():  # that first try found a login that prints
                return getattr(self.system, name)(path)
            raise

    def open_binary(self, path: str) -> IO[bytes]:
        return self._sftp_or_other("open_binary", path, lambda: self._sftp_open(path))

    def _sftp_open(self, path: str) -> IO[bytes]:
        for attempt in (0, 1):
            cm = self.pool.sftp_session(self.host)
            s = cm.__enter__()
            try:
                f, size = _found(s, self.host, path, lambda: _open_regular(s, path))
                return _SFTPReader(f, cm, size)  # type: ignore[return-value]
            except BaseException as e:
                _close_session(cm, keep=not _broken(e))
                if _broken(e) and not isinstance(e, RemoteError):
                    self.pool.drop(self.host)
                    if not attempt:
                        continue
                    raise RemoteError(f"SFTP on {self.host} failed: {_why(e)}") from None
                raise
        raise AssertionError("unreachable")

    def connect(self) -> None:
        """Open the connection and one SFTP session ahead of the first read (from a background
        thread); a failure is left for that read to report."""
        if self.system:
            return
        try:
            self.pool.sftp_call(self.host, lambda s: None)
        except RemoteError:
            pass

    def size(self, path: str) -> int:
        return self._sftp_or_other(
            "size",
            path,
            lambda: self.pool.sftp_call(
                self.host, lambda s: _found(s, self.host, path, lambda: s.stat(wire(path)).st_size)
            ),
        )

    def exists(self, path: str) -> bool:
        if self._other():
            return self.system.exists(path)
        try:
            self.size(path)
            return True
        except FileNotFoundError:
            return False

    def listdir(self, path: str) -> list[str]:
        return self._sftp_or_other(
            "listdir",
            path,
            lambda: self.pool.sftp_call(self.host, lambda s: _found(s, self.host, path, lambda: _names(s, path))),
        )

    def read_text(self, path: str) -> str:
        return self._sftp_or_other("read_text", path, lambda: self._sftp_read_text(path))

    def _sftp_read_text(self, path: str) -> str:
        with self._sftp_open(path) as f:
            # the size the open's stat saw: a sparse 20 GB spec.json (one `truncate`) was read
            # zero by zero over the link while `arcctl tail` and the dashboard hung on it
            if f.size > MAX_TEXT:
                raise TooLarge(path, MAX_TEXT)
            return f.read(f.size).decode("utf-8")


def wire(path: str) -> str | bytes:
    """PATH as the server gets it: a name _names gave with bytes that are not UTF-8 (surrogates,
    as os.listdir gives them) goes back as those bytes; paramiko encodes a str as strict UTF-8."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape")


def _names(s: paramiko.SFTPClient, path: str) -> list[str]:
    return [name for name, _ in entries(s, path)]


def entries(s: paramiko.SFTPClient, path: str) -> list[tuple[str, paramiko.SFTPAttributes]]:
    """s.listdir_attr(path), its names decoded as os.listdir decodes them: paramiko decodes them
    as strict UTF-8, so one file named in Latin-1 failed the whole listing of its folder (a run's
    checkpoints, `arcctl fetch`). Its own OPENDIR/READDIR loop, names kept as bytes."""
    from paramiko.sftp import CMD_CLOSE, CMD_HANDLE, CMD_NAME, CMD_OPENDIR, CMD_READDIR

    t, msg = s._request(CMD_OPENDIR, wire(path))
    if t != CMD_HANDLE:
        raise paramiko.SFTPError("Expected handle")
    handle, out = msg.get_binary(), []
    try:
        while True:
            try:
                t, msg = s._request(CMD_READDIR, handle)
            except EOFError:  # the end of the folder
                break
            if t != CMD_NAME:
                raise paramiko.SFTPError("Expected name response")
            for _ in range(msg.get_int()):
                name = os.fsdecode(msg.get_string())
                msg.get_string()  # the long name
                attrs = paramiko.SFTPAttributes._from_msg(msg)
                if name not in (".", ".."):
                    attrs.filename = name
                    out.append((name, attrs))
    finally:
        s._request(CMD_CLOSE, handle)
    return out


def _found(s: paramiko.SFTPClient, host: str, path: str, call: Any) -> Any:
    """call(), except that a "no such file" for PATH that is a symbolic link loop is LinkLoop (the
    server says ENOENT for ELOOP). Costs one lstat, only when the file is missing."""
    try:
        return call()
    except FileNotFoundError:
        if _link_loop(s, path):
            raise LinkLoop(host, path) from None
        raise


def _link_loop(s: paramiko.SFTPClient, path: str) -> bool:
    """PATH is a link whose chain does not end within MAX_LINKS hops (a dangling link ends)."""
    for _ in range(MAX_LINKS + 1):
        try:
            if not stat.S_ISLNK(s.lstat(wire(path)).st_mode or 0):
                return False
            target = s.readlink(wire(path))
            target = os.fsdecode(target) if isinstance(target, bytes) else target  # not UTF-8
        except OSError:  # missing, or no longer a link: not a loop
            return False
        if not target:
            return False
        path = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    return True


def _open_regular(s: paramiko.SFTPClient, path: str) -> tuple[paramiko.SFTPFile, int]:
    """PATH opened for reading after a stat (which follows links) says it is a regular file: the
    server's open of a named pipe waits for a writer and holds the whole session, and a device
    (a link to /dev/zero) never ends. Anything else is an OSError (EINVAL), as jobs.rundir's local reader says."""
    st = s.stat(wire(path))
    if not stat.S_ISREG(st.st_mode or 0):
        raise NotRegularFile(path)
    return s.open(wire(path), "rb"), st.st_size or 0


class _SFTPReader:
    """A remote file open for reading on a leased SFTP session (given back on close). A read
    of more than one SFTP request asks for all of its pieces at once (paramiko's readv) instead
    of one 32 KB round trip after another, and joins them once: paramiko's own read() of N bytes
    re-copies its buffer per request (quadratic in N)."""

    PIECE = 256 * 1024  # per readv piece: paramiko's read() of a piece stays short

    def __init__(self, f: paramiko.SFTPFile, session: Any, size: int) -> None:
        self._f, self._session, self._pos = f, session, 0
        self.size = size  # when it was opened

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == os.SEEK_END:
            offset += self._f.stat().st_size
        elif whence == os.SEEK_CUR:
            offset += self._pos
        self._pos = max(0, offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int | None = -1) -> bytes:
        small = n is not None and 0 <= n <= self._f.MAX_REQUEST_SIZE
        if not small:
            # readers ask for byte ranges they saw in a stat just before: no second stat (a round
            # trip) for them; pieces past the end (a file that shrank meanwhile) fail the readv
            # and are read again below
            end = self._pos + n if n is not None and n >= 0 else self._f.stat().st_size
            n, small = max(0, end - self._pos), end - self._pos <= self._f.MAX_REQUEST_SIZE
        if small:  # one request: no prefetch thread
            self._f.seek(self._pos)
            data = self._f.read(n)
        else:
            pieces = [(o, min(self.PIECE, end - o)) for o in range(self._pos, end, self.PIECE)]
            try:
                data = b"".join(self._f.readv(pieces))
            except EOFError:  # shrank since the stat (replaced by a resume): what is there now
                self._f.seek(self._pos)
                data = self._f.read(max(0, end - self._pos))
        self._pos += len(data)
        return data

    def close(self) -> None:
        if self._session is None:
            return
        session, self._session = self._session, None
        try:
            self._f.close()
        except _SSH_ERRORS:
            _close_session(session, keep=False)  # the channel may be broken
            return
        _close_session(session, keep=True)

    def __enter__(self) -> "_SFTPReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
