"""Writing a file the user named on the command line (`-o FILE`): whole or not at all, and never
replacing something that is not a plain file.

A plain file is written to a fresh temporary name beside it and renamed over it, so a reader
never sees half a file and a failed write leaves the old one. Renaming over `/dev/null` or a
named pipe would replace the device itself with a regular file (as root, for every process on
the machine), so those are written in place, as a shell redirection would. A symlink keeps
pointing where it did: its target is what gets written.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Iterable

from jobs.errors import JobsError


def write_output(
    path: str | Path, data: bytes, error: type[JobsError] = JobsError, reads: Iterable[str | Path] = ()
) -> Path:
    """Write DATA to PATH; any failure is one `error` naming PATH, with no temporary file left.
    PATH may not be one of the files the command `reads` (`-o RUN/eval/predictions.jsonl` replaced
    an eval run's predictions with the submission built from them)."""
    path = Path(path)
    target = Path(os.path.realpath(path))
    check_not_read(path, reads, error)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise error(f"{path}: cannot write ({e.strerror or e})") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise error(f"{path}: is a directory; give a file name")
    try:
        if st is not None and not stat.S_ISREG(st.st_mode):
            with open(target, "wb") as f:  # a device or a FIFO
                f.write(data)
            return path
        target.parent.mkdir(parents=True, exist_ok=True)
        replace_file(target, data, st.st_mode & 0o7777 if st is not None else None)
    except OSError as e:
        raise error(f"{path}: cannot write ({e.strerror or e})") from None
    return path


def check_not_read(path: str | Path, reads: Iterable[str | Path], error: type[JobsError] = JobsError) -> None:
    """`error` when PATH is (a link to) one of the files in READS."""
    target = os.path.realpath(path)
    for source in reads:
        if os.path.realpath(source) == target:
            raise error(f"{path}: is {source}, which this command reads; write the output to another file")


def replace_file(target: Path, data: bytes, mode: int | None = None) -> None:
    """Put DATA at TARGET atomically (a temporary file beside it, synced, renamed over it), with
    MODE, or the mode open() would give a new file; the temporary file never outlives a failure."""
    if mode is None:  # what open() would have given a new file
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
