"""Files of a paramiko host whose login prints to stdout (an `echo` in ~/.bashrc), through
commands: SFTP cannot start there (its first answer is the banner, not SFTP), while a command's
output is still clean past its marker (jobs.ssh_output). The system ssh's file commands
(jobs.openssh: `cat > tmp && mv` to write, `tail -c`/`stat`/`find` to read, each bounded and
refusing FIFOs and link loops as over SFTP) run here over the pool's exec channel instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.errors import RemoteError
from jobs.openssh import OpenSSH, OpenSSHFS

if TYPE_CHECKING:
    from jobs.ssh_transport import SSHPool


class PoolExec(OpenSSH):
    def __init__(self, pool: "SSHPool"):
        super().__init__(pool.config_path, pool.connect_timeout)
        self.pool = pool

    def exec(self, alias: str, command: str, input: str | None = None, timeout: float | None = 120):
        return self.pool.exec(alias, command, input=input, timeout=timeout)

    def exec_bytes(self, alias: str, command: str, input: str | None = None, timeout: float | None = 120):
        return self.pool.exec_bytes(alias, command, input=input, timeout=timeout)

    def argv(self, alias: str, command: str) -> list[str]:
        # a tar stream needs the system ssh's process (jobs.ssh_tar); over paramiko it is SFTP
        raise RemoteError(
            f"{alias}: its login prints to stdout, so SFTP cannot start there and a folder cannot be "
            "copied; print only in interactive shells (`[[ $- == *i* ]] && echo …` in ~/.bashrc)"
        )


def exec_fs(pool: "SSHPool", alias: str) -> OpenSSHFS:
    """jobs.rundir.RunFS of ALIAS through commands over POOL (for jobs.sftp_runfs.SFTPFS)."""
    return OpenSSHFS(PoolExec(pool), alias)
