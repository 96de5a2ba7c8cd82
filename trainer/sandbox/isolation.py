"""Process-level confinement steps that need no compiled filter: namespaces, rlimits, fds."""
from __future__ import annotations

import ctypes
import os
import resource
import signal

CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)


def enter_network_namespace() -> str:
    """Move this (single-threaded) process into a fresh, empty network namespace.

    Root can unshare the network namespace directly; anyone else needs a user namespace first
    (allowed on most distributions). Returns a description, '' when it was not possible.
    """
    flags = [CLONE_NEWNET] if os.geteuid() == 0 else []
    flags.append(CLONE_NEWUSER | CLONE_NEWNET)
    for f in flags:
        if _libc.unshare(ctypes.c_int(f)) == 0:
            return "private network namespace" + (" (via user namespace)" if f & CLONE_NEWUSER else "")
    return ""


def die_with_parent() -> None:
    _libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0),
                ctypes.c_ulong(0), ctypes.c_ulong(0))


def vm_size_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def apply_rlimits(memory_mb: int, cpu_lifetime_s: int, fsize_mb: int = 8, nofile: int = 64) -> list[str]:
    """Set hard limits; returns the names of those that could be applied.

    RLIMIT_AS is the preloaded image plus `memory_mb`: the limit is on what a program may add.
    The CPU hard limit is a backstop for the whole worker life (the parent's wall-clock kill is
    the per-program limit; the worker lowers its soft limit before each program).
    """
    done = []
    base = vm_size_bytes()
    limits = [
        ("AS", resource.RLIMIT_AS, base + memory_mb * 1024 * 1024),
        ("CPU", resource.RLIMIT_CPU, cpu_lifetime_s),
        ("NPROC", resource.RLIMIT_NPROC, 0),
        ("FSIZE", resource.RLIMIT_FSIZE, fsize_mb * 1024 * 1024),
        ("NOFILE", resource.RLIMIT_NOFILE, nofile),
        ("CORE", resource.RLIMIT_CORE, 0),
    ]
    for name, res, value in limits:
        try:
            resource.setrlimit(res, (value, value))
            done.append(name)
        except (ValueError, OSError):
            pass
    return done


def close_fds_except(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def null_stdio() -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)
