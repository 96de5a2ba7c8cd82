"""The name jobs.submit looks up for remote run dirs; the transport itself is jobs.remote."""
from __future__ import annotations

from jobs.remote import SFTPFS, default_pool


def sftp_fs(host: str) -> SFTPFS:
    return SFTPFS(host, default_pool())
