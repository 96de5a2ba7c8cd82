import os

import pytest

from trainer.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=2, timeout_s=1.0, memory_mb=512, recycle_every=50) as sb:
        yield sb


def descendants(pid: int = os.getpid()) -> set[int]:
    """All live descendant pids of `pid` (zombies excluded), read from /proc."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[1].split()
        state, ppid = rest[0], int(rest[1])
        if state != "Z":
            children.setdefault(ppid, []).append(int(name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def sandbox_processes(sb) -> set[int]:
    """Live processes anywhere on the host that a sandbox started (its zygote's command line,
    inherited by every fork, names the sandbox's private root directory)."""
    out = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{name}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if sb._root and sb._root.encode() in cmd and state != "Z":
            out.add(int(name))
    return out
