"""Run a scheduler command here or on a remote host, the same way for every backend.

A backend holds one `Shell`: `LocalShell` (subprocess) or `SSHShell` (one pooled paramiko
connection per host, see jobs.ssh_transport). Both take an argv list and extra environment variables
(e.g. SLURM_CONF, which a non-interactive ssh session does not have), count their calls (the
benchmarks assert "one status refresh = one scheduler call"), and can write files (the submit
artifact and spec.json go into the run dir, wherever it lives).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from jobs.errors import JobsError


class CommandError(JobsError):
    """A scheduler command failed; the message names the command, the host and its stderr."""


@dataclass
class CmdResult:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str

    def check(self, where: str) -> "CmdResult":
        if self.rc != 0:
            err = (self.stderr.strip() or self.stdout.strip() or "no output").splitlines()[-1]
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
            # bytes a scheduler prints that are not UTF-8 (a Latin-1 job name or path) were a
            # UnicodeDecodeError traceback out of `arcctl ls`: replaced, as over paramiko
            p = subprocess.run(
                argv,
                env=full_env,
                input=input,
                capture_output=True,
                encoding="utf-8",
                errors="replace",
                timeout=timeout,
            )
        except FileNotFoundError:
            return CmdResult(argv, 127, "", f"{argv[0]}: command not found on localhost")
        except subprocess.TimeoutExpired:
            return CmdResult(argv, 124, "", f"{argv[0]}: timed out after {timeout} s on localhost")
        return CmdResult(argv, p.returncode, p.stdout, p.stderr)

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
