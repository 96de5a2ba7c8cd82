"""A remote run dir read over SFTP (the real loopback sshd) whose files are a named pipe or a link
to /dev/zero: readers refuse them at once instead of holding the session (and the dashboard or
`arcctl tail HOST:/path`) forever."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from jobs.rundir import JsonlTail
from jobs.ssh_transport import SFTPFS, SSHPool

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(60)]
ARCCTL = str(Path(sys.executable).parent / "arcctl")


@pytest.fixture
def endless_run(tmp_path) -> Path:
    run = tmp_path / "endless"
    (run / "eval").mkdir(parents=True)
    (run / "spec.json").symlink_to("/dev/zero")
    os.mkfifo(run / "eval" / "metrics.json")
    os.mkfifo(run / "exit_code")
    (run / "metrics.jsonl").write_text('{"step": 1, "reward": 0.5}\n')
    return run


def _refuses_endless_files_then_reads(fs, run: Path, use, within_s: float) -> None:
    """Every endless file is refused by name, by read_text and by open_binary (USE gets the opened
    file), all within WITHIN_S; then the run's real metrics still read."""
    t0 = time.monotonic()
    for name in ("exit_code", "eval/metrics.json", "spec.json"):
        with pytest.raises(OSError, match="not a regular file") as e:
            fs.read_text(f"{run}/{name}")
        assert e.value.filename == f"{run}/{name}"
        with pytest.raises(OSError, match="not a regular file"):
            use(fs.open_binary(f"{run}/{name}"))
    assert time.monotonic() - t0 < within_s
    assert [r["step"] for r in JsonlTail(f"{run}/metrics.jsonl", fs).read_new()] == [1]


def test_sftp_reads_refuse_pipes_and_devices_and_keep_the_session(ssh_config, endless_run):
    pool = SSHPool()
    fs = SFTPFS("testhost", pool)
    _refuses_endless_files_then_reads(fs, endless_run, lambda f: f, within_s=20)
    assert pool.connects == 1  # the same connection read the run's real file
    pool.close()


def test_tail_of_a_remote_run_with_pipes_does_not_hang(ssh_config, endless_run):
    res = subprocess.run(
        [ARCCTL, "tail", f"testhost:{endless_run}"], capture_output=True, text=True, timeout=30, env=os.environ
    )
    assert res.returncode == 0 and "step 1  reward=0.5" in res.stdout, res.stderr
    res = subprocess.run(
        [ARCCTL, "health", f"testhost:{endless_run}"], capture_output=True, text=True, timeout=30, env=os.environ
    )
    assert res.returncode in (0, 2) and "Traceback" not in res.stderr, res.stderr
    assert "spec.json" in res.stdout + res.stderr


def test_system_ssh_reads_refuse_pipes_and_devices(sshd, tmp_path, endless_run):
    """Hosts reached through the system ssh (ControlMaster) read with `cat`/`tail` on the host: the
    remote shell refuses what is not a regular file instead of streaming /dev/zero or waiting on a
    pipe until the command's 120 s timeout."""
    control = Path(tempfile.mkdtemp(prefix="cm", dir="/tmp"))  # a socket path must stay short
    cfg = sshd.ssh_config(
        tmp_path / "ssh_config",
        alias="h",
        extra=f"  ControlMaster auto\n  ControlPath {control}/%C\n  ControlPersist 5\n",
    )
    pool = SSHPool(cfg)
    try:
        fs = SFTPFS("h", pool)
        assert pool.transport("h") == "openssh"
        # the range file runs its command on the first read, not on open
        _refuses_endless_files_then_reads(fs, endless_run, lambda f: f.read(4096), within_s=30)
        with pytest.raises(FileNotFoundError):
            fs.read_text(f"{endless_run}/no-such-file")
    finally:
        pool.close()
        subprocess.run(["ssh", "-F", str(cfg), "-O", "exit", "h"], capture_output=True, timeout=30)
        shutil.rmtree(control, ignore_errors=True)
