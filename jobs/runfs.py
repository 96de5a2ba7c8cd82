"""The file systems run-dir readers go through (`RunFS`): this machine's, one serialized for
file systems that are not safe from several threads, one made on first use (a remote host's SFTP,
logged into by a worker thread), and which one a host gets."""

from __future__ import annotations

import errno
import os
import stat
import threading
from pathlib import Path
from typing import IO, Any, Protocol

from jobs.ssh_answers import MAX_TEXT, TooLarge  # a file read whole: the limit remote run dirs have


class RunFS(Protocol):
    """What a run-dir reader needs from a file system; local and SFTP implement it alike."""

    def open_binary(self, path: str) -> IO[bytes]: ...
    def size(self, path: str) -> int: ...
    def exists(self, path: str) -> bool: ...
    def listdir(self, path: str) -> list[str]: ...
    def read_text(self, path: str) -> str: ...


class LocalFS:
    concurrent = True  # safe to use from several threads at once (SerializedFS is not needed)

    def open_binary(self, path: str) -> IO[bytes]:
        return open(path, "rb")

    def size(self, path: str) -> int:
        return os.stat(path).st_size

    def exists(self, path: str) -> bool:
        try:
            os.stat(path)
        except OSError as e:
            if e.errno == errno.ELOOP:  # os.path.exists says False: a tail would wait for it forever
                raise LinkLoopHere(path) from None
            return False
        return True

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)

    def read_text(self, path: str) -> str:
        return read_regular_text(path)


class LinkLoopHere(OSError):
    """A run-dir path on this machine that is a symbolic link loop."""

    def __init__(self, path: str):
        super().__init__(errno.ELOOP, "a symbolic link loop; remove or fix the link", path)

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def read_regular_text(path: str | Path) -> str:
    """A whole small file (spec.json, exit_code, eval/metrics.json) as text. A named pipe or a
    device (a link to /dev/zero) in a run dir would block or never end, and a sparse 20 GB one
    would fill memory: OSError instead."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once instead of waiting
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise LinkLoopHere(str(path)) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if st.st_size > MAX_TEXT:
            raise TooLarge(str(path), MAX_TEXT)
        os.set_blocking(fd, True)
        with open(fd, encoding="utf-8", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def what_is(path: str | Path) -> str:
    """What is at PATH, for a one-line error that names it instead of saying "not found" for a
    folder, a named pipe or a device: 'not found', 'a folder', 'a named pipe (FIFO)', ..."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        return (
            "a symbolic link loop"
            if e.errno == errno.ELOOP
            else "not found"
            if e.errno == errno.ENOENT
            else (f"not readable ({e.strerror})")
        )
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "not a regular file"


def open_regular_binary(path: str | Path) -> IO[bytes]:
    """PATH opened for reading if it is a regular file; a FIFO swapped in after a check would
    otherwise block the open until a writer comes. OSError(EINVAL) for anything else."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return open(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class SerializedFS:
    """A RunFS that lets one request through at a time, for file systems that do not say they are
    `concurrent`: the dashboard reads from several worker threads (refresh, a completions page,
    the jobs table) at once."""

    def __init__(self, fs: RunFS) -> None:
        self.inner = fs
        self._lock = threading.RLock()

    def open_binary(self, path: str) -> "_SerializedFile":
        with self._lock:
            return _SerializedFile(self.inner.open_binary(path), self._lock)

    def size(self, path: str) -> int:
        with self._lock:
            return self.inner.size(path)

    def exists(self, path: str) -> bool:
        with self._lock:
            return self.inner.exists(path)

    def listdir(self, path: str) -> list[str]:
        with self._lock:
            return self.inner.listdir(path)

    def read_text(self, path: str) -> str:
        with self._lock:
            return self.inner.read_text(path)


class _SerializedFile:
    def __init__(self, f: Any, lock: Any) -> None:
        self._f, self._lock = f, lock

    def seek(self, offset: int, whence: int = 0) -> int:
        with self._lock:
            return self._f.seek(offset, whence)

    def read(self, n: int = -1) -> bytes:
        with self._lock:
            return self._f.read(n)

    def close(self) -> None:
        with self._lock:
            self._f.close()

    def __enter__(self) -> "_SerializedFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class DeferredFS:
    """A RunFS made on first use by FACTORY, in whichever thread reads first: for a remote host,
    importing paramiko and logging in then happen in a worker, not in the thread that builds
    the screen. `connect()` makes it (and logs in) ahead of the first read."""

    concurrent = True  # what the factory makes is serialized here when it is not

    def __init__(self, factory: Any, label: str = "") -> None:
        self._factory, self.label = factory, label
        self._inner: RunFS | None = None
        self._lock = threading.Lock()

    @property
    def inner(self) -> RunFS:
        with self._lock:
            if self._inner is None:
                fs = self._factory()
                self._inner = fs if getattr(fs, "concurrent", False) else SerializedFS(fs)
            return self._inner

    def connect(self) -> None:
        connect = getattr(self.inner, "connect", None)
        if callable(connect):
            connect()

    def open_binary(self, path: str) -> IO[bytes]:
        return self.inner.open_binary(path)

    def size(self, path: str) -> int:
        return self.inner.size(path)

    def exists(self, path: str) -> bool:
        return self.inner.exists(path)

    def listdir(self, path: str) -> list[str]:
        return self.inner.listdir(path)

    def read_text(self, path: str) -> str:
        return self.inner.read_text(path)


def fs_for_host(host: str | None) -> RunFS:
    """The file system a run dir on `host` is read through: this machine's for None (or
    "localhost"), SFTP over the shared SSH pool for an ssh host alias."""
    if not host or host == "localhost":
        return LocalFS()
    from jobs.sftp_runfs import SFTPFS
    from jobs.ssh_transport import default_pool

    return SFTPFS(host, default_pool())
