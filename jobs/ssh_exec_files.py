"""Files of a paramiko host whose login prints to stdout (an `echo` in ~/.bashrc), through
commands: SFTP cannot start there (its first answer is the banner, not SFTP), while a command's
output is still clean past its marker (jobs.ssh_output). The system ssh's file commands
(jobs.openssh: `cat > tmp && mv` to write, `tail -c`/`stat`/`find` to read, each bounded and
refusing FIFOs and link loops as over SFTP) run here over the pool's exec channel instead, and a
checkpoint's fetch is the same bounded tar stream (jobs.ssh_tar) read from an exec channel.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import paramiko

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
        raise AssertionError("no system ssh process for a paramiko host: tar_stream runs over the pool")

    def tar_stream(self, alias: str, command: str) -> "ChanStream":
        """COMMAND's output over an exec channel of the pool's connection (a checkpoint's tar
        stream, jobs.ssh_tar: its limits, idle stop and marker are the same as through ssh)."""
        from jobs.ssh_channel import NoAnswer, request
        from jobs.ssh_output import marked
        from jobs.ssh_transport import _SSH_ERRORS, _why

        try:
            chan = self.pool.client(alias).get_transport().open_session(timeout=self.connect_timeout)
        except (*_SSH_ERRORS, AttributeError) as e:
            self.pool.drop(alias)
            raise RemoteError(f"{alias}: cannot open a channel to copy through: {_why(e)}") from None
        try:
            request(chan, "exec", marked(command), self.pool.answer_seconds(alias))
            chan.shutdown_write()
        except NoAnswer as e:
            chan.close()
            self.pool.drop(alias)
            raise RemoteError(f"{alias} took the login, then gave {e}") from None
        except _SSH_ERRORS as e:
            chan.close()
            raise RemoteError(f"{alias}: cannot start the copy: {_why(e)}") from None
        return ChanStream(chan)


class ChanStream:
    """An exec channel's stdout for jobs.ssh_tar: each read waits at most its IDLE_S; stderr is
    kept as its last 4 KB (paramiko buffers it apart, in the channel's window)."""

    def __init__(self, chan: paramiko.Channel):
        self.chan, self.err = chan, bytearray()

    def _stderr(self) -> None:
        while self.chan.recv_stderr_ready():
            self.err += self.chan.recv_stderr(65536)
            del self.err[:-4096]

    def read(self, n: int) -> bytes:
        from jobs import ssh_tar

        self._stderr()  # read as it comes: unread, it holds the channel's window (the copy stalls)
        self.chan.settimeout(ssh_tar.IDLE_S)
        try:
            return self.chan.recv(n)
        except (socket.timeout, TimeoutError):
            raise ssh_tar.Stalled() from None

    def close(self, done: bool) -> tuple[int, str]:
        """(exit status, stderr's tail); a copy stopped early closes the channel (sshd ends tar)."""
        rc = -1
        if done and self.chan.status_event.wait(30):  # the status follows the stream's end
            rc = self.chan.recv_exit_status()
        self._stderr()
        self.chan.close()
        return rc, self.err.decode(errors="replace")


def exec_fs(pool: "SSHPool", alias: str) -> OpenSSHFS:
    """jobs.rundir.RunFS of ALIAS through commands over POOL (for jobs.sftp_runfs.SFTPFS)."""
    return OpenSSHFS(PoolExec(pool), alias)
