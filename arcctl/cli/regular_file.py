"""Whether a run's file (a log, metrics.jsonl, events.jsonl) is a regular file: a named pipe or a
device there has size 0, so a reader printed nothing and exited 0 as for an empty run."""

from __future__ import annotations

import os
import stat
from typing import Any


def check_regular(fs: Any, path: str, size: int) -> None:
    """NotRegularFile for a FIFO or a device at PATH. Here a stat; on a remote host the RunFS
    refuses it on open (SFTP) or read (the system ssh), tried when the size is 0."""
    from jobs.rundir import LocalFS
    from jobs.ssh_answers import NotRegularFile

    if isinstance(fs, LocalFS):
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise NotRegularFile(path)
    elif size == 0:  # any other kind of file has size 0 too
        with fs.open_binary(path) as f:
            f.read(1)
