"""`arcctl logs` / `logs -f` of a remote run (round 5b) over SFTP and the system ssh against the
real loopback sshd: a log that is a link to the file being written, a log truncated or replaced
while it is followed, a log that is a named pipe or a link to /dev/zero."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from jobs.sftp_runfs import SFTPFS
from jobs.ssh_transport import SSHPool

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]
ARCCTL = str(Path(sys.executable).parent / "arcctl")


@pytest.fixture(params=["paramiko", "openssh"])
def cfg(request, sshd, tmp_path):
    control = Path(tempfile.mkdtemp(prefix="cmf", dir="/tmp"))  # a socket path must stay short
    extra = f"  ControlMaster auto\n  ControlPath {control}/%C\n  ControlPersist 5\n"
    path = sshd.ssh_config(tmp_path / "ssh_config", alias="h", extra=extra if request.param == "openssh" else "")
    assert SSHPool(path).transport("h") == request.param
    yield path
    subprocess.run(["ssh", "-F", str(path), "-O", "exit", "h"], capture_output=True, timeout=30)
    shutil.rmtree(control, ignore_errors=True)


def _arcctl(cfg: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARCCTL_SSH_CONFIG": str(cfg)}
    return subprocess.run([ARCCTL, *args], capture_output=True, text=True, env=env, timeout=timeout)


def _run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.json").write_text("{}")
    return run


def test_a_log_that_is_a_link_is_read_and_followed_through(cfg, tmp_path):
    """Through the system ssh the size was the link's own (`stat` without -L): the log showed the
    first bytes of its first line and `-f` never saw more."""
    run = _run(tmp_path)
    real = tmp_path / "scratch.log"
    real.write_text("".join(f"line {i}\n" for i in range(200)))
    os.symlink(real, run / "stdout.log")
    res = _arcctl(cfg, "logs", "-n", "3", f"h:{run}")
    assert res.returncode == 0 and res.stdout == "line 197\nline 198\nline 199\n", res.stdout + res.stderr
    assert SFTPFS("h", SSHPool(cfg)).size(f"{run}/stdout.log") == real.stat().st_size


def _lines(proc: subprocess.Popen, until: str) -> list[str]:
    got = []
    while True:
        line = proc.stdout.readline()
        assert line, f"logs -f ended before printing {until!r}: {got} {proc.stderr.read()}"
        got.append(line.rstrip("\n"))
        if got[-1] == until:
            return got


def test_following_a_linked_log_sees_appends_truncation_and_replacement(cfg, tmp_path):
    run = _run(tmp_path)
    real = tmp_path / "scratch.log"
    real.write_text("".join(f"line {i}\n" for i in range(200)))
    os.symlink(real, run / "stdout.log")
    env = {**os.environ, "ARCCTL_SSH_CONFIG": str(cfg)}
    argv = [ARCCTL, "logs", "-f", "-n", "1", "--poll", "0.05", "--max-seconds", "90", f"h:{run}"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        with open(real, "a") as f:
            f.write("after link\n")
        assert _lines(proc, "after link")[-1] == "after link"
        real.write_text("fresh\n")  # a new attempt truncates it
        assert _lines(proc, "fresh") == ["fresh"]
        new = tmp_path / "new.log"
        new.write_text("x\n")
        new.replace(real)  # replaced by a shorter file
        assert _lines(proc, "x") == ["x"]
    finally:
        proc.kill()
        proc.wait()


def test_a_long_log_without_newlines_costs_few_commands_through_the_system_ssh(sshd, tmp_path, monkeypatch):
    """`arcctl logs` scans back for the last newlines 64 KB at a time: through the system ssh one
    command each, 100 s and more for a 256 MB log without a newline (the shared 2-core VM). Reads
    that continue the previous one now fetch 4 MB ahead: counted here, the commands ssh ran."""
    from arcctl.cli.logs_cmd import last_lines
    from jobs.openssh import OpenSSH

    control = Path(tempfile.mkdtemp(prefix="cmc", dir="/tmp"))
    cfg = sshd.ssh_config(
        tmp_path / "ssh_config", alias="h", extra=f"  ControlMaster auto\n  ControlPath {control}/%C\n"
    )
    log = tmp_path / "stdout.log"
    with open(log, "wb") as f:
        f.truncate(40 * 2**20)  # 40 MB of one line, then two more
        f.seek(0, 2)
        f.write(b"x\nend\n")
    calls = []
    argv = OpenSSH.argv
    monkeypatch.setattr(
        OpenSSH, "argv", lambda self, alias, command: calls.append(command) or argv(self, alias, command)
    )
    try:
        lines, end = last_lines(SFTPFS("h", SSHPool(cfg)), str(log), 3)
    finally:
        subprocess.run(["ssh", "-F", str(cfg), "-O", "exit", "h"], capture_output=True, timeout=30)
        shutil.rmtree(control, ignore_errors=True)
    assert end == log.stat().st_size and lines[-1] == "end" and len(lines) == 2, lines
    assert len(calls) <= 30, len(calls)
