"""What an SSH server answers about one run-dir file that is not an error of the connection: the
SFTP session (or the system ssh) stays usable after each (jobs.ssh_transport re-exports them)."""

from __future__ import annotations

import errno

from jobs.errors import RemoteError


class NotRegularFile(OSError):
    """A run-dir file that is a named pipe, a device or a socket: reading it would wait forever."""

    def __init__(self, path: str):
        super().__init__(errno.EINVAL, "not a regular file", path)


class TooLarge(OSError):
    """A run-dir file read whole (spec.json, exit_code, trainer_state.json) past MAX_TEXT."""

    def __init__(self, path: str, limit: int):
        super().__init__(errno.EFBIG, f"larger than {limit // 2**20} MB, not read whole", path)


# what a run-dir file read whole may hold, like what a remote command may print (MAX_OUTPUT)
MAX_TEXT = 256 * 2**20


class LinkLoop(RemoteError, OSError):
    """A run-dir path that is a symbolic link loop: sftp-server answers ELOOP as "no such file",
    which read as a file not written yet (a tail waited for it forever). An OSError (ELOOP) too,
    so a reader that marks an unreadable file (a checkpoint folder) does so for this one."""

    def __init__(self, host: str, path: str):
        OSError.__init__(self, errno.ELOOP, f"a symbolic link loop on {host}", path)
        self.message = f"{host}:{path}: a symbolic link loop (more than {MAX_LINKS} links); remove or fix the link"

    def __str__(self) -> str:
        return self.message


MAX_LINKS = 40  # the links Linux follows in one path before ELOOP

# the server's answers about one file: the session stays usable
_ANSWERS = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    NotRegularFile,
    LinkLoop,
    TooLarge,
)
