"""A job's processes on this machine, read from /proc: who gets a stop signal, and killing all of them.

Multi-process launchers (`accelerate launch`, `torchrun`) start each training process in a session
of its own, so signalling the job's process group misses them, and the launcher itself must not get
the stop signal: torch's elastic agent exits 128+signal on SIGTERM, and SIGUSR1 kills it outright,
orphaning the workers. A stop therefore goes to the processes under a launcher, which checkpoint
and exit 0; the launcher then ends with them, with their exit code. Standard library only: the
local job wrapper imports this and must start fast.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

_LAUNCHER_MODULES = ("accelerate.commands.launch", "torch.distributed.run", "torch.distributed.launch")
_LAUNCHER_SCRIPTS = ("torchrun", "accelerate-launch")
PR_SET_CHILD_SUBREAPER = 36


def is_launcher(argv: list[str]) -> bool:
    """`python -m accelerate.commands.launch …`, `accelerate launch …`, `torchrun …` (also as
    `python /venv/bin/torchrun …`, the way a console script's process reads)."""
    words = [os.path.basename(a) for a in argv[:3]]
    if any(m in argv[:4] for m in _LAUNCHER_MODULES):
        return True
    for i, w in enumerate(words):
        if w in _LAUNCHER_SCRIPTS or (w == "accelerate" and argv[i + 1 : i + 2] == ["launch"]):
            return True
    return False


@dataclass
class Proc:
    pid: int
    ppid: int
    pgid: int
    argv: list[str]


def processes() -> dict[int, Proc]:
    """Every live process (zombies left out)."""
    out = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] != "Z":
            out[int(name)] = Proc(int(name), int(fields[1]), int(fields[2]), argv)
    return out


def _children(table: dict[int, Proc]) -> dict[int, list[Proc]]:
    kids: dict[int, list[Proc]] = {}
    for p in table.values():
        kids.setdefault(p.ppid, []).append(p)
    return kids


def descendants(root: int, table: dict[int, Proc] | None = None) -> list[int]:
    """Every process below `root`, parents before children."""
    table = processes() if table is None else table
    kids = _children(table)
    out, todo = [], [root]
    while todo:
        for p in kids.get(todo.pop(0), []):
            out.append(p.pid)
            todo.append(p.pid)
    return out


def signal_job(root: int, sig: int) -> None:
    """Send a stop signal to the job whose top process is `root`: to every process of its process
    group, except launchers, whose own children (and their groups) get it instead. A launcher that
    has started nothing yet gets it itself (nothing to save)."""
    table = processes()
    kids = _children(table)
    groups: dict[int, list[Proc]] = {}
    for p in table.values():
        groups.setdefault(p.pgid, []).append(p)
    seen: set[int] = set()
    sent = 0
    todo = [root]
    while todo:
        p = table.get(todo.pop(0))
        if p is None or p.pgid in seen:
            continue
        seen.add(p.pgid)
        for member in groups.get(p.pgid, []):
            if is_launcher(member.argv):
                todo.extend(c.pid for c in kids.get(member.pid, []))
                continue
            try:
                os.kill(member.pid, sig)
                sent += 1
            except (ProcessLookupError, PermissionError):
                pass
    if not sent:
        try:
            os.killpg(root, sig)
        except (ProcessLookupError, PermissionError):
            pass


def kill_all(below: int, group: int | None = None) -> None:
    """SIGKILL every process below `below` (not `below` itself), whatever session it started,
    and the process group `group`."""
    for pid in descendants(below):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if group is not None:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def become_subreaper() -> None:
    """Processes orphaned below this one are re-parented to it (not to init), so a launcher killed
    first never hides its workers from `descendants`. Linux only; elsewhere a no-op."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass
