"""`arcctl fetch` of a remote run's checkpoint: the directory tree copied over SFTP (or as a tar
stream through the system ssh, or over an exec channel where a printing login breaks SFTP),
regular files and folders only, into a folder that appears whole or not at all."""

from __future__ import annotations

import posixpath
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from jobs.errors import RemoteError
from jobs.staged_dir import staged_dir

if TYPE_CHECKING:
    import paramiko

    from jobs.ssh_transport import SSHPool


def download_dir(
    pool: SSHPool, alias: str, remote: str, local: Path, on_bytes: Callable[[int], None] | None = None
) -> int:
    """Copy the tree at `remote` on `alias` to `local` (must not exist), staged (jobs.staged_dir)
    so an interrupted copy never looks complete. Returns bytes; `on_bytes(n)` is told of every
    chunk as it arrives (progress bars)."""
    from jobs.sftp_runfs import SFTPFS, entries, wire

    if local.exists():
        raise RemoteError(f"destination {local} already exists; not overwriting it")
    total = 0

    def walk(s: paramiko.SFTPClient, src: str, dst: Path) -> None:
        nonlocal total
        dst.mkdir(parents=True, exist_ok=True)
        for _, a in _named(src, lambda: entries(s, src)):  # names that are not UTF-8 too
            if a.filename in ("", ".", "..") or "/" in a.filename or "\0" in a.filename:
                # only a hostile server lists such a name: `dst / "/home/me/.bashrc"` or
                # `dst / "../../x"` wrote outside the destination
                raise RemoteError(
                    f"{alias}:{src} lists a file named {a.filename!r}, which is no file name; "
                    "not copying (nothing was fetched)"
                )
            rp = posixpath.join(src, a.filename)
            if stat.S_ISDIR(a.st_mode or 0):
                walk(s, rp, dst / a.filename)
                continue
            target = a
            if not stat.S_ISREG(a.st_mode or 0):  # a link: what it points to
                try:
                    target = s.stat(wire(rp))
                except FileNotFoundError:
                    raise RemoteError(f"{alias}:{rp} is a broken link; not copying it (nothing was fetched)")
            if not stat.S_ISREG(target.st_mode or 0):
                # the server's open of a named pipe waits for a writer (the copy hung), a link to
                # /dev/zero filled this disk, and a link to a folder (maybe a loop) is not
                # followed: refused, the partial copy removed, nothing half-done
                kind = "a folder behind a link" if stat.S_ISDIR(target.st_mode or 0) else "not a regular file"
                raise RemoteError(f"{alias}:{rp} is {kind}; not copying it (nothing was fetched)")
            total += _named(rp, lambda: _copy_file(s, alias, rp, dst / a.filename, target.st_size or 0, on_bytes))

    def _named(path: str, call):
        """call(), a refusal of the server's (permission denied, gone) naming PATH inside the tree:
        paramiko's errors name no file, so "Permission denied" left the user to guess which one."""
        try:
            return call()
        except (FileNotFoundError, PermissionError) as e:
            if e.filename is not None:  # this machine's own (paramiko's name no file): said as before
                raise
            why = e.strerror or type(e).__name__
            raise RemoteError(
                f"copy of {remote} from {alias} failed: {alias}:{path}: {why} (nothing was fetched)"
            ) from None

    if not SFTPFS(alias, pool).exists(remote):
        raise RemoteError(f"{remote} does not exist on {alias}")
    with staged_dir(local, "the copy", RemoteError) as partial:
        if pool.transport(alias) == "openssh" or pool.no_sftp(alias):
            # a login that prints to stdout (found by the exists() above) breaks SFTP: a tar
            # stream over a command instead (jobs.ssh_tar through jobs.ssh_exec_files)
            total = pool.exec_files(alias).download_dir(alias, remote, partial, on_bytes)
        else:
            try:
                pool.sftp_call(alias, lambda s: walk(s, remote, partial))
            except (FileNotFoundError, PermissionError, NotADirectoryError, IsADirectoryError) as e:
                # a file removed or unreadable during the copy: one line, not a traceback
                raise RemoteError(f"copy of {remote} from {alias} failed: {e.strerror or e}") from None
    return total


CHUNK = 256 * 1024


def _copy_file(
    s: paramiko.SFTPClient, alias: str, rp: str, local: Path, size: int, on_bytes: Callable[[int], None] | None
) -> int:
    """The SIZE bytes the listing announced, and no more: paramiko's get() reads until the server
    says EOF, so a server that keeps answering (a hostile host, a file that never ends) filled
    this disk before its "size mismatch". A file that is shorter than announced is an error."""
    from jobs.sftp_runfs import wire

    got = 0
    with s.open(wire(rp), "rb") as src, open(local, "wb") as out:
        src.prefetch(size)  # the pieces asked for at once, as get() does
        while got < size:
            data = src.read(min(CHUNK, size - got))
            if not data:
                raise RemoteError(f"{alias}:{rp} shrank during the copy ({got} of {size} bytes); nothing was fetched")
            out.write(data)
            got += len(data)
            if on_bytes is not None:
                on_bytes(len(data))
    return got
