"""An ssh config's ProxyCommand as paramiko's socket, able to say what went wrong with it.

paramiko's ProxyCommand reads the command's end of output as "no bytes yet" and spins until the
banner timeout, and never reads the command's stderr: a ProxyCommand that exited at once (a typo,
`nc` missing, the bastion refusing) or one that hangs both ended, after the whole timeout, in
"did not answer as an SSH server; is an sshd listening on port 22?", which points at the wrong
thing. Here the end of its output is the end of the stream (paramiko stops at once), its stderr's
last bytes are kept, and `failure` is one line naming the host, the command and what it did.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from select import select

import paramiko

from jobs.errors import RemoteError

_ERR_KEEP = 4096  # the tail of the command's stderr (its last line is the reason)
_FIRST_KEEP = 4096  # RFC 4253 lets a server send lines before its `SSH-2.0-…` greeting


def _shown(data: bytes, keep: int = 80) -> str:
    """DATA quoted for one line: control characters and bytes that are not UTF-8 escaped, cut."""
    text = data[:keep].decode("utf-8", "backslashreplace")
    out = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return repr(out) + ("…" if len(data) > keep else "")


def _no_greeting(first: bytes) -> bool:
    """FIRST holds no line that starts an SSH server's greeting (`SSH-`)."""
    return not any(line.startswith(b"SSH-") for line in first.split(b"\n"))


class Proxy(paramiko.ProxyCommand):
    def __init__(self, command: str, label: str):
        super().__init__(command)
        self.command, self.label = command, label
        self.answered = False  # it sent at least one byte
        self.first = b""  # what it sent first (the SSH server's greeting, or what it is instead)
        self._err = bytearray()
        self._err_open = True
        self.stopped = False  # close() stopped it while it was still running

    def recv(self, size: int) -> bytes:
        out, err = self.process.stdout, self.process.stderr
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise socket.timeout()
            ready, _, _ = select([out, err] if self._err_open else [out], [], [], left)
            if err in ready:
                self._read_err()
            if out in ready:
                data = os.read(out.fileno(), size)
                self.answered = self.answered or bool(data)
                if len(self.first) < _FIRST_KEEP:
                    self.first += data[: _FIRST_KEEP - len(self.first)]
                return data  # b"": the command closed its output, the end of the stream

    def _read_err(self) -> None:
        chunk = os.read(self.process.stderr.fileno(), _ERR_KEEP)
        self._err_open = bool(chunk)
        self._err = (self._err + chunk)[-_ERR_KEEP:]

    def close(self) -> None:
        """Stop the command (paramiko's transport thread calls this when the login fails). One
        that never answered gets half a second to exit by itself: it closed its output on the
        way out, and "exited 1" is what happened, not "still running"."""
        try:
            self.process.wait(timeout=0 if self.answered else 0.5)
        except subprocess.TimeoutExpired:
            self.stopped = True
            self.process.terminate()
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def failure(self, timeout: float) -> str | None:
        """One line when the proxy itself is why the login failed, else None."""
        try:
            rc = self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            rc = None
        if self.stopped:  # set before close() signals it: the exit was ours, not its own
            rc = None
        # what it wrote to stderr since the last read (paramiko's first write may have failed on
        # the exited command's closed input before anything was read); bounded in time, as a
        # child of the command may hold stderr open
        end = time.monotonic() + 0.5
        while self._err_open and time.monotonic() < end and select([self.process.stderr], [], [], 0.1)[0]:
            self._read_err()
        lines = bytes(self._err).decode("utf-8", "replace").strip().splitlines()
        said = "".join(c if c.isprintable() else "?" for c in lines[-1][:200]) if lines else ""
        head = f"ProxyCommand of {self.label} ({self.command})"
        if rc is not None and not self.answered:
            return f"{head} exited {rc} before an SSH server answered" + (f": {said}" if said else "")
        if rc is None and not self.answered:
            return f"{head} sent nothing within {timeout:g} s (still running): no SSH server answered through it" + (
                f"; it said: {said}" if said else ""
            )
        if self.answered and _no_greeting(self.first):
            # a proxy that reached something else (an HTTP proxy's "HTTP/1.1 403", a web server,
            # nc to the wrong port): "is an sshd listening on port 22?" named the wrong thing
            return f"{head} sent {_shown(self.first)}, which is not an SSH server's greeting (SSH-2.0-…)" + (
                f"; it said: {said}" if said else ""
            )
        return None


def raise_if_proxy_failed(sock: object, timeout: float, client: paramiko.SSHClient) -> None:
    """Called when CLIENT's login failed, before it is closed (closing stops the command)."""
    if isinstance(sock, Proxy):
        why = sock.failure(timeout)
        client.close()
        sock.close()
        if why:
            raise RemoteError(why) from None
