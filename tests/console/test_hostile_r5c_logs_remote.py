"""`arcctl logs` (round 5c) of a remote run against the real loopback sshd, over SFTP and through
the system ssh: following catches up with a fast writer in few commands; a log that is a named
pipe or a link to /dev/zero is one line naming the host and the file, exit 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.cli_jobs.conftest import ARCCTL

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]


def _config(sshd, tmp_path: Path, transport: str) -> tuple[Path, Path]:
    control = Path(tempfile.mkdtemp(prefix="cm5c", dir="/tmp"))  # a socket path must stay short
    extra = f"  ControlMaster auto\n  ControlPath {control}/%C\n  ControlPersist 5\n"
    cfg = sshd.ssh_config(tmp_path / "ssh_config", alias="h", extra=extra if transport == "openssh" else "")
    return cfg, control


@pytest.fixture(params=["paramiko", "openssh"])
def cfg(request, sshd, tmp_path):
    from jobs.ssh_transport import SSHPool

    path, control = _config(sshd, tmp_path, request.param)
    assert SSHPool(path).transport("h") == request.param
    yield path
    subprocess.run(["ssh", "-F", str(path), "-O", "exit", "h"], capture_output=True, timeout=30)
    shutil.rmtree(control, ignore_errors=True)


def _run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.json").write_text("{}")
    return run


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
@pytest.mark.parametrize("follow", [False, True])
def test_a_remote_log_that_is_not_a_regular_file_is_one_line(cfg, tmp_path, kind, follow):
    """Its size is 0: printed nothing and exited 0 (`-f` waited forever)."""
    run = _run(tmp_path)
    log = run / "stdout.log"
    if kind == "fifo":
        os.mkfifo(log)
    else:
        os.symlink("/dev/zero", log)
    args = ["logs", f"h:{run}"] + (["-f", "--max-seconds", "20", "--poll", "0.05"] if follow else [])
    env = {**os.environ, "ARCCTL_SSH_CONFIG": str(cfg)}
    res = subprocess.run([ARCCTL, *args], capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 2 and res.stdout == "", res
    assert res.stderr == f"error: h:{log}: not a regular file\n", res.stderr


class _Enough(BaseException):
    """Stops the follower once it has run its share of ssh commands."""


def test_following_through_the_system_ssh_catches_up_in_few_commands(sshd, tmp_path, monkeypatch, capsys):
    """Each follow loop is two ssh commands (the size, a range) and read 64 KB: 32 MB written at
    once took 1024 commands, so a writer past ~2 MB/s was never caught up. Counted here: the
    commands ssh ran before the log's last line was printed."""
    from arcctl.cli.logs_cmd import _follow
    from jobs.openssh import OpenSSH
    from jobs.sftp_runfs import SFTPFS
    from jobs.ssh_transport import SSHPool

    cfg, control = _config(sshd, tmp_path, "openssh")
    log = tmp_path / "stdout.log"
    log.write_bytes(b"".join(b"line %06d " % i + b"x" * 1000 + b"\n" for i in range(32 * 1024)))  # ~32 MB
    calls = []
    argv = OpenSSH.argv

    def counted(self, alias, command):
        calls.append(command)
        if len(calls) > 40:
            raise _Enough
        return argv(self, alias, command)

    monkeypatch.setattr(OpenSSH, "argv", counted)
    try:
        with pytest.raises(_Enough):
            _follow(SFTPFS("h", SSHPool(cfg)), str(log), 0, 0.01, 110)
    finally:
        subprocess.run(["ssh", "-F", str(cfg), "-O", "exit", "h"], capture_output=True, timeout=30)
        shutil.rmtree(control, ignore_errors=True)
    out = capsys.readouterr().out.splitlines()
    assert out and out[-1].startswith("line 032767 x"), (len(out), out[-1:])
    assert len(out) == 32 * 1024
