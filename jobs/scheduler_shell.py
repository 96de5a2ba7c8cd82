"""Run a scheduler command here or on a remote host, the same way for every backend.

A backend holds one `Shell`: `LocalShell` (subprocess) or `SSHShell` (one pooled paramiko
connection per host, see jobs.ssh_transport). Both take an argv list and extra environment variables
(e.g. SLURM_CONF, which a non-interactive ssh session does not have), count their calls (the
benchmarks assert "one status refresh = one scheduler call"), and can write files (the submit
artifact and spec.json go into the run dir, wherever it lives).
"""

from __future__ import annotations

import os
import selectors
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from jobs.errors import JobsError


class CommandError(JobsError):
    """A scheduler command failed; the message names the command, the host and its stderr."""


# What one scheduler command may print (stdout and stderr together): listings of thousands of jobs
# are a few MB; past this the program is stopped instead of filling this process's memory.
MAX_OUTPUT = 256 * 2**20


class OutputLimit(Exception):
    """The program printed more than MAX_OUTPUT; it was killed."""


def run_bounded(
    argv: list[str],
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float | None = None,
) -> tuple[int, str, str]:
    """subprocess.run(argv, capture_output=True) with a ceiling on what the program may print
    (OutputLimit) and the timeout held while it prints (subprocess.TimeoutExpired); output that is
    not UTF-8 is decoded with replacement characters. A scheduler printing without end (a broken
    squeue, a hostile host through the system ssh) took its whole timeout and all the memory it
    could fill in it; a Latin-1 byte was a UnicodeDecodeError."""
    rc, out, err = run_bounded_bytes(argv, env, input, timeout)
    return rc, out.decode("utf-8", errors="replace"), err.decode("utf-8", errors="replace")


def run_bounded_bytes(
    argv: list[str],
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float | None = None,
) -> tuple[int, bytes, bytes]:
    """run_bounded, its output as the bytes printed (file names that are not UTF-8)."""
    limit = MAX_OUTPUT
    p = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if input is not None:

        def feed() -> None:
            try:
                p.stdin.write(input.encode())
            except OSError:  # the program exited without reading it all
                pass
            finally:
                try:
                    p.stdin.close()
                except OSError:
                    pass

        threading.Thread(target=feed, daemon=True).start()
    out, err = bytearray(), bytearray()
    end = None if timeout is None else time.monotonic() + timeout
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(p.stdout, selectors.EVENT_READ, out)
            sel.register(p.stderr, selectors.EVENT_READ, err)
            while sel.get_map():
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(argv, timeout)
                for key, _ in sel.select(left):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        sel.unregister(key.fileobj)
                        continue
                    key.data.extend(chunk)
                    if len(out) + len(err) > limit:
                        raise OutputLimit(limit)
        rc = p.wait(timeout=None if end is None else max(0.0, end - time.monotonic()))
    except BaseException:
        p.kill()
        p.wait()
        raise
    finally:
        for f in (p.stdout, p.stderr):
            f.close()
    return rc, bytes(out), bytes(err)


@dataclass
class CmdResult:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str

    def check(self, where: str) -> "CmdResult":
        if self.rc != 0:
            err = (self.stderr.strip() or self.stdout.strip() or "no output").splitlines()[-1]
            # what the program printed, as one line without escape sequences
            err = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in err)
            raise CommandError(f"{self.argv[0]} failed on {where} (exit {self.rc}): {err}")
        return self


class Shell:
    where: str = "localhost"
    calls: int = 0

    def run(
        self, argv: list[str], env: dict[str, str] | None = None, input: str | None = None, timeout: float | None = 120
    ) -> CmdResult:
        raise NotImplementedError

    def write_text(self, path: str, text: str, mode: int | None = None) -> None:
        raise NotImplementedError

    def makedirs(self, path: str) -> None:
        raise NotImplementedError

    def fs(self):
        """A jobs.rundir.RunFS over this shell's file system."""
        raise NotImplementedError


class LocalShell(Shell):
    def __init__(self) -> None:
        self.calls = 0

    def run(self, argv, env=None, input=None, timeout=120):
        self.calls += 1
        full_env = {**os.environ, **(env or {})}
        try:
            rc, out, err = run_bounded(argv, env=full_env, input=input, timeout=timeout)
        except FileNotFoundError:
            return CmdResult(argv, 127, "", f"{argv[0]}: command not found on localhost")
        except subprocess.TimeoutExpired:
            return CmdResult(argv, 124, "", f"{argv[0]}: timed out after {timeout} s on localhost")
        except OutputLimit:
            raise CommandError(
                f"{argv[0]} on localhost printed more than {MAX_OUTPUT // 2**20} MB; stopped it"
            ) from None
        return CmdResult(argv, rc, out, err)

    def write_text(self, path, text, mode=None):
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(text)
        if mode is not None:
            tmp.chmod(mode)
        tmp.replace(p)

    def makedirs(self, path):
        Path(path).mkdir(parents=True, exist_ok=True)

    def fs(self):
        from jobs.rundir import LocalFS

        return LocalFS()


def remote_command(argv: list[str], env: dict[str, str] | None = None) -> str:
    """One shell line for `ssh host LINE`: env assignments first (sshd drops most client env)."""
    assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    cmd = " ".join(shlex.quote(a) for a in argv)
    return f"env {assigns} {cmd}" if assigns else cmd


class SSHShell(Shell):
    def __init__(self, host: str, pool=None) -> None:
        from jobs.ssh_transport import default_pool

        self.host = host
        self.where = host
        self.pool = pool or default_pool()
        self.calls = 0

    def run(self, argv, env=None, input=None, timeout=120):
        self.calls += 1
        rc, out, err = self.pool.exec(self.host, remote_command(argv, env), input=input, timeout=timeout)
        return CmdResult(argv, rc, out, err)

    def write_text(self, path, text, mode=None):
        self.pool.write_text(self.host, path, text, mode=mode)

    def makedirs(self, path):
        self.pool.makedirs(self.host, path)

    def fs(self):
        from jobs.ssh_transport import SFTPFS

        return SFTPFS(self.host, self.pool)


def make_shell(host: str | None) -> Shell:
    """`None`, "" or "localhost" run here; anything else is an ssh host alias (~/.ssh/config)."""
    if not host or host == "localhost":
        return LocalShell()
    return SSHShell(host)
