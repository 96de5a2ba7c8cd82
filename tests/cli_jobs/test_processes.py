"""Process identity and children through psutil, on real processes: the start time a pid file
records, the same when read from another process and equal to the kernel's own value; gone and
zombie processes have none; the children a data-parallel launcher forwards signals to."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from jobs.processes import children, start_time
from tests.cli_jobs.conftest import wait_for


def _kernel_start(pid: int) -> str:
    """Field 22 of /proc/PID/stat (clock ticks since boot): what pid files have always held."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2 :].split()[19]


def test_start_time_of_a_live_gone_and_zombie_process():
    p = subprocess.Popen(["sleep", "30"])
    try:
        mine = start_time(p.pid)
        assert mine == _kernel_start(p.pid) and mine.isdigit()
        other = subprocess.run(
            [sys.executable, "-c", f"from jobs.processes import start_time; print(start_time({p.pid}))"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        assert other == mine  # what the launcher wrote is what a later `arcctl ls` reads back
        assert start_time(os.getpid()) != mine
        p.send_signal(signal.SIGKILL)
        wait_for(lambda: Path(f"/proc/{p.pid}/stat").read_text().split(")")[-1].split()[0] == "Z", timeout=10)
        assert start_time(p.pid) is None  # a zombie: exited, only waiting to be reaped
    finally:
        p.kill()
        p.wait()
    assert start_time(p.pid) is None
    assert start_time(-1) is None and start_time(2**40) is None


def test_children_of_a_process():
    sh = subprocess.Popen(["/bin/sh", "-c", "sleep 30 & sleep 30 & wait"])
    try:
        kids = wait_for(lambda: len(children(sh.pid)) == 2 and children(sh.pid), timeout=10)
        for pid in kids:
            assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == b"sleep"
            assert int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) == sh.pid
    finally:
        for pid in children(sh.pid):
            os.kill(pid, signal.SIGKILL)
        sh.wait(timeout=10)
    assert children(sh.pid) == [] and children(-1) == []
