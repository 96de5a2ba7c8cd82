"""Channel requests with a deadline. paramiko's `exec_command` and `invoke_subsystem` wait for
the server's answer without one, and its SFTP client reads the server's version with no timeout
on the channel yet: an sshd that accepted the login and then stopped answering (a hung login
node, a broken proxy in between) held `arcctl ls`, `tail` and the dashboard's refresh forever.
Here each waits at most until its deadline and then fails with NoAnswer."""

from __future__ import annotations

import socket
import time

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST
from paramiko.message import Message

from jobs.ssh_output import after_mark, marked


class NoAnswer(Exception):
    """The server did not answer a channel request in time (the connection is unusable)."""

    def __init__(self, what: str, seconds: float):
        super().__init__(f"no answer to the {what} request within {round(seconds, 1):g} s")
        self.what, self.seconds = what, seconds


class NotSFTP(paramiko.SSHException):
    """The server's first answer on the SFTP channel was no SFTP packet (a login that prints)."""


def request(chan: paramiko.Channel, kind: str, arg: str, seconds: float) -> None:
    """What chan.exec_command(arg) (kind "exec") or chan.invoke_subsystem(arg) ("subsystem")
    sends, waiting at most SECONDS for the server's reply; a refusal raises as paramiko's does."""
    m = Message()
    m.add_byte(cMSG_CHANNEL_REQUEST)
    m.add_int(chan.remote_chanid)
    m.add_string(kind)
    m.add_boolean(True)
    m.add_string(arg)
    chan._event_pending()
    chan.transport._send_user_message(m)
    if not chan.event.wait(max(0.0, seconds)):
        raise NoAnswer(kind, seconds)
    if not chan.event_ready:  # refused, or the channel closed: paramiko's own error
        raise chan.transport.get_exception() or paramiko.SSHException("Channel closed.")


def open_sftp(transport: paramiko.Transport, seconds: float, read_timeout: float) -> paramiko.SFTPClient:
    """An SFTP session whose every step, the server's version included, has a deadline; its
    reads then time out after READ_TIMEOUT seconds without an answer."""
    end = time.monotonic() + seconds
    chan = transport.open_session(timeout=seconds)
    try:
        chan.settimeout(read_timeout)
        request(chan, "subsystem", "sftp", end - time.monotonic())
        left = max(0.1, min(read_timeout, end - time.monotonic()))
        chan.settimeout(left)
        try:
            sftp = paramiko.SFTPClient(chan)  # sends INIT, reads VERSION: bounded by the channel timeout
        except (socket.timeout, TimeoutError):
            raise NoAnswer("SFTP version", left) from None
        except (paramiko.SSHException, paramiko.sftp.SFTPError, EOFError) as e:
            # what the server sent first was no SFTP packet: OpenSSH's sftp says "Received message
            # too long" for it, paramiko "Garbage packet received"
            raise NotSFTP(  # noqa: B904 - paramiko's text is in the message
                f"the SFTP server's first answer is not SFTP ({e or type(e).__name__}); a login script "
                "there that prints to stdout (an echo in ~/.bashrc) breaks SFTP: print only in interactive shells"
            ) from None
        chan.settimeout(read_timeout)
        return sftp
    except BaseException:
        chan.close()
        raise


class TooMuchOutput(Exception):
    def __init__(self, limit: int):
        super().__init__(limit)
        self.limit = limit


def run_channel(
    chan: paramiko.Channel, command: str, input: str | None, timeout: float | None, answer_s: float, limit: int
) -> tuple[int, bytes, str]:
    """COMMAND on CHAN (an open session): (rc, stdout past the login's text, stderr); more than
    LIMIT bytes of output raises TooMuchOutput, no answer to the request NoAnswer."""
    timeout = 24 * 3600.0 if timeout is None else timeout
    end = time.monotonic() + timeout
    # paramiko's exec_command waited for the server's answer forever
    request(chan, "exec", marked(command), min(timeout, answer_s))
    if input:
        chan.settimeout(max(0.1, end - time.monotonic()))  # a server that never reads it
        try:
            chan.sendall(input.encode())
        except socket.timeout:
            raise NoAnswer("exec (its input)", timeout) from None
    chan.shutdown_write()
    out, err = bytearray(), bytearray()
    while True:
        busy = False
        if chan.recv_ready():
            out += chan.recv(65536)
            busy = True
        if chan.recv_stderr_ready():
            err += chan.recv_stderr(65536)
            busy = True
        # checked on every pass: a command that prints without end (a broken squeue) piled its
        # output up in memory for its whole timeout, and the clock was read only when no output
        # was waiting (a sender faster than this loop would have kept it from ever timing out)
        if len(out) + len(err) > limit:
            chan.close()
            raise TooMuchOutput(limit)
        if time.monotonic() > end:
            chan.close()
            return 124, after_mark(out), f"timed out after {timeout} s"
        if not busy:
            if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                break
            if chan.closed and not chan.exit_status_ready():
                raise EOFError("channel closed before the command finished")
            time.sleep(0.002)
    rc = chan.recv_exit_status()
    chan.close()
    return rc, after_mark(out), err.decode(errors="replace")
