"""`arcctl logs` (round 5c) on this machine's file system, through the real binary: a sparse 200 GB
log with no newline near its end is scanned back no further than SCAN_BYTES and shown cut; a log
that is a named pipe or a link to /dev/zero is one line and exit 2, with and without -f."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.cli_jobs.conftest import ARCCTL, run_cli

pytestmark = pytest.mark.timeout(120)


def _run(root: Path) -> Path:
    run = root / "run"
    run.mkdir()
    (run / "spec.json").write_text("{}")
    return run


def test_a_huge_sparse_log_without_newlines_is_cut_not_read_whole(home, tmp_path):
    """The backward scan for the last newlines had no bound: 200 GB of zeros (one `truncate`) were
    read to find them (minutes; more over SFTP). Now 64 MB at most, and the cut line says so."""
    run = _run(tmp_path)
    with open(run / "stdout.log", "wb") as f:
        f.truncate(200 * 2**30)
        f.seek(0, 2)
        f.write(b"\ntail 1\ntail 2\n")
    try:
        res = run_cli("logs", str(run), "-n", "5", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("logs of a 200 GB sparse log read it whole")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("[… cut: the ") and "bytes before this line were not read]" in lines[0]
    assert lines[-2:] == ["tail 1", "tail 2"] and len(lines) == 4, lines[:1] + lines[2:]
    assert "more bytes]" in lines[1]  # the cut line itself: its start, bounded as every long line


def test_a_log_cut_on_a_line_boundary_is_not_marked(home, tmp_path):
    """Only a scan that stops inside a line says it is cut."""
    from arcctl.cli.logs_cmd import SCAN_BYTES, last_lines
    from jobs.rundir import LocalFS

    log = tmp_path / "stdout.log"
    with open(log, "wb") as f:
        f.write(b"first\n")
        f.truncate(6 + SCAN_BYTES - 1)  # one line of SCAN_BYTES - 1 zeros and its newline
        f.seek(0, 2)
        f.write(b"\n")
    lines, end = last_lines(LocalFS(), str(log), 5)
    assert len(lines) == 1 and not lines[0].startswith("[… cut") and end == log.stat().st_size


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
@pytest.mark.parametrize("follow", [False, True])
def test_a_log_that_is_not_a_regular_file_is_one_line(home, tmp_path, kind, follow):
    """A named pipe (or a link to /dev/zero) where the log should be: printed nothing, exit 0, and
    `-f` waited forever on a size that never grows."""
    run = _run(tmp_path)
    log = run / "stdout.log"
    if kind == "fifo":
        os.mkfifo(log)
    else:
        os.symlink("/dev/zero", log)
    args = ["logs", str(run)] + (["-f", "--max-seconds", "20", "--poll", "0.05"] if follow else [])
    res = run_cli(*args, timeout=40)
    assert res.returncode == 2 and res.stdout == "", res
    assert res.stderr == f"error: {log}: not a regular file\n", res.stderr


def test_following_a_log_that_appears_as_a_named_pipe_is_one_line(home, tmp_path):
    """`-f` of a log not written yet waits for it; when it appears as a named pipe, it says so."""
    run = _run(tmp_path)
    log = run / "stdout.log"
    os.mkfifo(run / "pipe")
    p = subprocess.Popen(
        [ARCCTL, "logs", str(run), "-f", "--poll", "0.05", "--max-seconds", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        (run / "pipe").rename(log)
        out, err = p.communicate(timeout=70)
    finally:
        p.kill()
    assert p.returncode == 2 and out == "" and err.endswith(f"{log}: not a regular file\n"), (out, err)
