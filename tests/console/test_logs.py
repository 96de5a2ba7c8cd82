"""`arcctl logs RUN` through the real binary: a run dir, a registry job, `host:/path` over a real
loopback sshd; the last N lines of a log far larger than one read block; following a growing log
(a partial line waits for its newline, a truncated log starts over); bad input is one line."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.cli_jobs.conftest import ARCCTL, run_cli, wait_for

pytestmark = pytest.mark.timeout(120)


def make_run(root: Path, lines: int = 10) -> Path:
    run = root / "run"
    run.mkdir(parents=True)
    (run / "spec.json").write_text("{}")
    (run / "stdout.log").write_text("".join(f"out {i}\n" for i in range(lines)))
    (run / "stderr.log").write_text("warn a\nwarn b\n")
    return run


def test_last_lines_stdout_and_stderr(home, tmp_path):
    run = make_run(tmp_path)
    assert run_cli("logs", str(run), "-n", "3", check=True).stdout == "out 7\nout 8\nout 9\n"
    assert run_cli("logs", str(run), "--stderr", check=True).stdout == "warn a\nwarn b\n"
    assert run_cli("logs", str(run), "-n", "0", check=True).stdout.count("\n") == 10


def test_big_log_progress_bars_and_unfinished_line(home, tmp_path):
    run = make_run(tmp_path, lines=0)
    with open(run / "stdout.log", "w") as f:
        for i in range(200_000):  # ~3 MB: many 64 KiB blocks
            f.write(f"line {i:06d} " + "x" * 4 + "\n")
        f.write("epoch 1:  10%\repoch 1:  50%\repoch 1: 100%\n")
        f.write("half a line")
    out = run_cli("logs", str(run), "-n", "2", check=True).stdout
    assert out == "line 199999 xxxx\nepoch 1: 100%\n"  # what a terminal shows; the partial line waits
    assert run_cli("logs", str(run), "-n", "150000", check=True).stdout.splitlines()[0] == "line 050001 xxxx"


def test_by_job_name_and_follow(home):
    [jid] = run_cli("submit", "fake", "-q", check=True).stdout.split()
    wait_for(lambda: "bye" in run_cli("logs", jid, "--stderr").stdout)
    name_out = run_cli("logs", "fake_lr1e-6", check=True).stdout
    assert name_out == run_cli("logs", jid, check=True).stdout and "cuda ''" in name_out


def test_follow_prints_appended_lines_and_restarts_after_truncation(home, tmp_path):
    run = make_run(tmp_path, lines=3)
    log = run / "stdout.log"
    proc = subprocess.Popen(
        [ARCCTL, "logs", str(run), "-f", "-n", "1", "--poll", "0.05", "--max-seconds", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        got: list[str] = []
        threading.Thread(target=lambda: got.extend(iter(proc.stdout.readline, "")), daemon=True).start()

        def seen(text: str) -> bool:
            return text in "".join(got)

        wait_for(lambda: seen("out 2\n"), timeout=60)  # a loaded machine starts the CLI slowly
        with open(log, "a") as f:
            f.write("new 1\nhal")
            f.flush()
            wait_for(lambda: seen("new 1\n"), timeout=30)
            time.sleep(0.3)
            assert "hal" not in "".join(got)  # a line being written is not printed in pieces
            f.write("f done\n")
        wait_for(lambda: seen("half done\n"), timeout=30)
        log.write_text("restarted\n")  # a new attempt truncated the log
        wait_for(lambda: seen("restarted\n"), timeout=30)
        assert "".join(got) == "out 2\nnew 1\nhalf done\nrestarted\n"
    finally:
        proc.kill()
        proc.wait()


def test_bad_input_is_one_line(home, tmp_path):
    res = run_cli("logs", str(tmp_path / "nope"))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "nope" in res.stderr
    run = make_run(tmp_path, lines=1)
    (run / "stderr.log").unlink()
    (run / "stderr.log").mkdir()  # a folder where the log should be
    res = run_cli("logs", str(run), "--stderr")
    assert res.returncode == 2 and "stderr.log" in res.stderr and "Traceback" not in res.stderr
    os.mkfifo(run / "stdout.log.fifo")
    (run / "stdout.log").unlink()
    (run / "stdout.log.fifo").rename(run / "stdout.log")  # must not hang on open
    res = run_cli("logs", str(run), timeout=20)
    assert res.returncode == 2 and res.stderr.endswith("stdout.log: not a regular file\n")
    empty = make_run(tmp_path / "other", lines=0)
    (empty / "stdout.log").unlink()
    res = run_cli("logs", str(empty))
    assert res.returncode == 0 and "no stdout.log" in res.stderr


@pytest.mark.sshd
def test_over_sftp(home, tmp_path, sshd):
    run = make_run(tmp_path, lines=5)
    env = {"ARCCTL_SSH_CONFIG": str(sshd.ssh_config(tmp_path / "ssh_config"))}
    res = run_cli("logs", f"testhost:{run}", "-n", "2", env=env, check=True)
    assert res.stdout == "out 3\nout 4\n"
    assert run_cli("logs", f"testhost:{run}", "--stderr", env=env, check=True).stdout == "warn a\nwarn b\n"
    res = run_cli("logs", f"testhost:{tmp_path}/missing", env=env)
    assert res.returncode == 2 and "testhost" in res.stderr and res.stderr.count("\n") == 1
