"""Process-level confinement steps that need no compiled filter: namespaces, rlimits, fds."""

from __future__ import annotations

import ctypes
import os
import resource
import signal

CLONE_NEWNET, CLONE_NEWUSER, CLONE_NEWNS = 0x40000000, 0x10000000, 0x00020000
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)
# PyDLL keeps the GIL across the call, so the child of fork() below comes back holding it.
_pyc = ctypes.PyDLL(None, use_errno=True)
_pyc.fork.restype = ctypes.c_int


def enter_namespaces() -> dict[str, str]:
    """Move this (single-threaded) process into fresh network and mount namespaces.

    Root can unshare directly; anyone else needs a user namespace first (allowed on most
    distributions). The network namespace is empty (no interface but a down loopback); the mount
    namespace lets the zygote give each worker a private, size-capped tmpfs that the host never
    sees. Returns {"netns": description, "mountns": description}, '' for what was not possible.
    """
    uid, gid = os.geteuid(), os.getegid()
    extra = 0 if uid == 0 else CLONE_NEWUSER
    via = " (via user namespace)" if extra else ""
    for f in (CLONE_NEWNET | CLONE_NEWNS, CLONE_NEWNET):
        if _libc.unshare(ctypes.c_int(f | extra)) != 0:
            continue
        if extra:
            _map_ids(uid, gid)
        out = {"netns": "private network namespace" + via, "mountns": ""}
        if f & CLONE_NEWNS and _make_mounts_private():
            out["mountns"] = "private mount namespace" + via
        return out
    return {"netns": "", "mountns": ""}


def _map_ids(uid: int, gid: int) -> None:
    """Keep our own ids inside the new user namespace (files we create stay ours)."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        try:
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
        except OSError:
            pass


MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE, MNT_DETACH = 1, 2, 4, 8, 1 << 14, 1 << 18, 2


def _make_mounts_private() -> bool:
    # Without this, mounts made here would propagate back to the host's (shared) mounts.
    return _libc.mount(None, b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None) == 0


def mount_tmpfs(path: str, size_mb: int, inodes: int = 4096) -> str:
    """A private tmpfs of at most `size_mb` and `inodes` files on `path`; '' or the error."""
    opts = f"size={size_mb}m,nr_inodes={inodes},mode=0700".encode()
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    if _libc.mount(b"tmpfs", path.encode(), b"tmpfs", ctypes.c_ulong(flags), opts) == 0:
        return ""
    return os.strerror(ctypes.get_errno())


def unmount(path: str) -> None:
    _libc.umount2(path.encode(), ctypes.c_int(MNT_DETACH))


def die_with_parent() -> None:
    _libc.prctl(
        PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)
    )


def fork_bare() -> int:
    """fork(2) without CPython's fork hooks: 0 in the child, the child's pid in the parent.

    `os.fork` also re-initialises the runtime's locks and thread states in the child and runs the
    `register_at_fork` callbacks of `threading`, `random` etc.: on a Python process with numpy
    loaded that is ~190 extra copy-on-write page faults per child, more than a small program
    costs. None of it is needed when the caller is the only thread (no lock can be held by
    another thread, the thread keeps its identity), which is the only case this is used for.
    """
    pid = _pyc.fork()
    if pid < 0:
        raise OSError(ctypes.get_errno(), "fork")
    return pid


def thread_count() -> int:
    """Threads of this process (from /proc; 0 if it cannot be read)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def vm_size_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def apply_rlimits(memory_mb: int, base: int, fsize_mb: int = 8, nofile: int = 64) -> list[str]:
    """Set hard limits inherited by every program's child; returns the names of those applied.

    RLIMIT_AS is `base` (the preloaded image) plus `memory_mb`: the limit is on what a program
    may add.
    CPU and process-count limits are set by each child itself (a fresh process starts at 0 CPU
    seconds; the worker must keep the right to fork).
    """
    done = []
    limits = [
        ("AS", resource.RLIMIT_AS, base + memory_mb * 1024 * 1024),
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
    return done + ["CPU", "NPROC"]


def close_fds_except(keep: set[int]) -> None:
    """Close every fd above 2 but `keep` (close_range: /proc may be hidden by now)."""
    low = 3
    for fd in sorted(k for k in keep if k >= 3):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 20)


def hide_proc() -> bool:
    """Mount an empty, read-only tmpfs over /proc in this (private) mount namespace.

    Without Landlock, /proc/<pid>/environ and cmdline of every process of the same user (the
    trainer, with its tokens) would be readable; the zygote hides /proc once it no longer needs
    it, before any worker starts.
    """
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY
    return _libc.mount(b"tmpfs", b"/proc", b"tmpfs", ctypes.c_ulong(flags), b"size=4k,mode=0555") == 0


PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 47, 4
_CAP_VERSION_3 = 0x20080522
_CAP_LAST = 63  # beyond the kernel's last capability, PR_CAPBSET_DROP fails (EINVAL): harmless


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    """Give up every capability, for good (the bounding and ambient sets too), before any program runs.

    Started by root, the sandbox would otherwise run programs with all of root's capabilities:
    seccomp and Landlock refuse the syscalls that need most of them, but not the ioctls on a file
    that a program may read (freezing or shutting down the host's file system, marking a host file
    immutable) nor reading files that their mode hides. A worker needs none (the zygote mounts the
    temp dirs). Raises OSError if the effective set is not empty afterwards.
    """
    _libc.prctl(
        PR_CAP_AMBIENT,
        ctypes.c_ulong(PR_CAP_AMBIENT_CLEAR_ALL),
        ctypes.c_ulong(0),
        ctypes.c_ulong(0),
        ctypes.c_ulong(0),
    )
    for cap in range(_CAP_LAST + 1):  # needs CAP_SETPCAP, so before the sets below are emptied
        _libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    head = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()  # all zero
    if _libc.capset(ctypes.byref(head), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    left = (_CapData * 2)()
    if _libc.capget(ctypes.byref(head), left) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    if any(d.effective or d.permitted or d.inheritable for d in left):
        raise OSError("capabilities left after capset")


def null_stdio() -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)
