"""A checkpoint copied through the system ssh (jobs.openssh), or over an exec channel of a
paramiko host whose login prints (SFTP cannot start there: jobs.ssh_exec_files): one
`tar -cf -` on the host, read here as a stream, never more bytes than the host's own listing of
the tree announced.

The stream was read to its end: a hostile or broken host (a `tar` that keeps sending, a header
that announces a 100 GB member followed by zeros, endless small members) filled this disk. The
listing (`find -printf`, run first) gives every entry's size and name length; a tar of that tree
is at most those sizes rounded to tar blocks, a few header blocks per entry (long names and
links take extra ones, GNU or pax) and the end-of-archive record. Past that the copy stops with
one line naming host and checkpoint; the caller's staged folder (jobs.staged_dir) removes what
was written. A file that grows between the listing and the tar is stopped the same way: fetch
it again once the checkpoint is complete.
"""

from __future__ import annotations

import os
import select
import shlex
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from jobs.errors import RemoteError
from jobs.ssh_output import MARK

if TYPE_CHECKING:
    from jobs.openssh import OpenSSH

BLOCK = 512
RECORD = 20 * BLOCK  # GNU tar's default blocking factor: the archive is padded to whole records


def _blocks(n: int) -> int:
    return -(-n // BLOCK) * BLOCK


def announced_limit(listing: bytes) -> int:
    """The most bytes a tar of the tree `find . -printf '%y %s %p%l\\0'` printed may take."""
    total = 2 * RECORD  # two zero blocks at the end, padded to a record (with room to spare)
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        kind, _, rest = entry.partition(b" ")
        size, _, names = rest.partition(b" ")
        if not size.isdigit():
            raise ValueError(f"unexpected listing entry {entry[:80]!r}")
        # a header, and for a long name or link target a GNU longlink or pax header before it
        total += 3 * BLOCK + 2 * _blocks(len(names) + 256)
        if kind == b"f":
            total += _blocks(int(size))
    return total


# A host that stops sending and keeps the connection open (ssh's keepalives answered) held the
# copy forever: no byte for this long is the end of it.
IDLE_S = 300.0


READ_AHEAD = 256 * 1024  # what one read of the stream asks for; the rest waits for tarfile's next


class _TooMuch(Exception):
    pass


class Stalled(Exception):
    pass


class _Capped:
    """The tar stream as tarfile reads it, counted: past `limit` bytes the read raises, and so
    does a wait of IDLE_S for the next byte."""

    def __init__(self, source, limit: int, on_bytes: Callable[[int], None] | None):
        self._raw, self.limit, self.on_bytes, self.got = source.read, limit, on_bytes, 0
        self._login: bytearray | None = bytearray()  # what came before the mark (jobs.ssh_output)
        self._ahead = b""  # stream bytes read with the mark

    def read(self, n: int = -1) -> bytes:
        n = n if n is not None and n >= 0 else 65536  # short reads are fine
        while self._login is not None:  # the login's text first (a banner from ~/.bashrc): dropped
            chunk = self._raw(65536)
            self._login += chunk
            i = self._login.find(MARK)
            if i >= 0 or not chunk or len(self._login) > self.limit:
                self._ahead = bytes(self._login[i + len(MARK) :]) if i >= 0 else bytes(self._login)
                self._login = None
        if self._ahead:
            data, self._ahead = self._ahead[:n], self._ahead[n:]
        else:  # tarfile asks 10 KB at a time: a read each was half the speed over a channel
            data = self._raw(max(n, READ_AHEAD))
            data, self._ahead = data[:n], data[n:]
        self.got += len(data)
        if self.got > self.limit:
            raise _TooMuch()
        if self.on_bytes is not None and data:
            self.on_bytes(len(data))  # progress: the stream as it arrives, headers included
        return data


def _drain(stream, keep: bytearray) -> None:
    """ssh's stderr, read as it comes (a full pipe would stall the copy), its last 4 KB kept."""
    for chunk in iter(lambda: stream.read1(65536), b""):
        keep.extend(chunk)
        del keep[:-4096]


class ProcStream:
    """The output of the system ssh running COMMAND (jobs.openssh.OpenSSH.argv)."""

    def __init__(self, argv: list[str]):
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.err = bytearray()
        self.drain = threading.Thread(target=_drain, args=(self.p.stderr, self.err), daemon=True)
        self.drain.start()

    def read(self, n: int) -> bytes:
        fd = self.p.stdout.fileno()
        if not select.select([fd], [], [], IDLE_S)[0]:
            raise Stalled()
        return os.read(fd, n)

    def close(self, done: bool) -> tuple[int, str]:
        """(exit status, stderr's tail); a copy stopped early kills ssh (it would block on a
        pipe no one reads)."""
        if not done:
            self.p.kill()
        rc = self.p.wait()
        self.drain.join(timeout=10)
        self.p.stdout.close()
        return rc, self.err.decode(errors="replace")


def download_tree(
    ssh: OpenSSH, alias: str, remote: str, partial: Path, on_bytes: Callable[[int], None] | None = None
) -> int:
    """Copy REMOTE on ALIAS into PARTIAL (created here); returns the bytes of its files."""
    # inside the folder (`REMOTE/.`): a checkpoint that is a link to a folder is that folder, as
    # over SFTP (`tar -C PARENT NAME` archived the link alone: an empty copy, called a success)
    where = shlex.quote(remote.rstrip("/") + "/")
    rc, listing, err = ssh.exec_bytes(alias, f"cd {where} && find . -printf '%y %s %p%l\\0'")
    if rc != 0:
        raise RemoteError(f"copy of {remote} from {alias} failed: cannot list it (exit {rc}): {err.strip()[-300:]}")
    try:
        limit = announced_limit(listing)
    except ValueError as e:
        raise RemoteError(f"copy of {remote} from {alias} failed: its listing is not find's: {e}") from None
    # the system ssh's process, or an exec channel of the pool (jobs.ssh_exec_files)
    source = ssh.tar_stream(alias, f"tar -C {where} -cf - .")
    stream = _Capped(source, limit, on_bytes)
    total, done = 0, False
    partial.mkdir(parents=True)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if member.name != "." and not member.name.startswith("./"):
                    continue  # not below `.`: not a file of this tree
                if member.issparse():  # its header's size is not what it takes on disk here
                    raise RemoteError(f"{alias}:{remote}: the copy holds a sparse file {member.name!r}; not copying it")
                member.name = member.name[2:].lstrip("/") or "."
                tar.extract(member, partial, filter="data")
                total += member.size if member.isfile() else 0
        while stream.read(65536):  # the padding after the end: counted too, ssh exits after it
            pass
        done = True
    except _TooMuch:
        raise RemoteError(
            f"{alias}:{remote}: the host sent more than the {limit} bytes its listing announced; "
            "stopped the copy (nothing was fetched)"
        ) from None
    except Stalled:
        raise RemoteError(
            f"{alias}:{remote}: the host sent nothing for {IDLE_S:.0f} s; stopped the copy (nothing was fetched)"
        ) from None
    except tarfile.TarError as e:
        raise RemoteError(f"copy of {remote} from {alias} failed: {e}") from None
    except OSError as e:  # this disk full, a folder not writable
        raise RemoteError(f"copy of {remote} from {alias} failed: {e.strerror or e}") from None
    finally:
        rc, err = source.close(done)
    if rc != 0:
        err = err.strip()[-300:]
        raise RemoteError(f"copy of {remote} from {alias} failed (exit {rc}): {err}")
    return total
