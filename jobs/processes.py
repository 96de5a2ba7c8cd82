"""Processes of this machine through psutil: a process's identity across pid reuse, and its children.

A pid alone does not name a process for long: the kernel hands it out again once the process is
gone. The run dir's `pid` file and a launch `claim` therefore record the pid with its start time,
and a job is alive only while a process with that pid has that start time.
"""

from __future__ import annotations

import os

import psutil

# Start times are written in clock ticks since boot, the unit the kernel keeps them in: unlike the
# wall-clock create_time, they do not move when the system clock is set (create_time and boot_time
# both add the current boot time, which cancels out), and pid files written by earlier releases,
# which read the ticks from /proc themselves, hold the same values.
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def start_time(pid: int) -> str | None:
    """The start time of a live process, in clock ticks since boot; None when there is no such
    process or it is a zombie (it has exited, only its exit status is left)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        created = proc.create_time()
    except (psutil.Error, ValueError):  # gone, not ours to see, or a pid out of range
        return None
    return str(round((created - psutil.boot_time()) * _TICKS))


def children(pid: int) -> list[int]:
    """The pids of a process's direct children ([] when it is gone)."""
    try:
        return [c.pid for c in psutil.Process(pid).children()]
    except (psutil.Error, ValueError):
        return []
