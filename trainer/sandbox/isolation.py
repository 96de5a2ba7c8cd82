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
MS_BIND = 1 << 12


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


_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree(path: str, keep_top: bool = False) -> bool:
    """Remove everything under directory `path`, and `path` itself unless `keep_top`, however deep;
    False if anything could not be removed. shutil.rmtree recurses once per level: a program's
    tree 1000 directories deep made it raise RecursionError, even with ignore_errors (the parent's
    close() crashed on it without a mount namespace). One directory open at a time (a worker may
    hold 64 fds), walking back up through "..", never following a symlink; run once no process of
    the program is left to move directories meanwhile."""
    try:
        fd = os.open(path, _DIR)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    ok = True
    stack: list[tuple[str, set]] = []  # (name in its parent, what could not be removed there)
    stuck: set[str] = set()  # entries of the current directory that could not be removed
    while True:
        sub = None
        try:
            with os.scandir(fd) as it:
                for e in it:
                    if e.name in stuck:
                        continue
                    if e.is_dir(follow_symlinks=False):
                        sub = e.name
                        break
                    try:
                        os.unlink(e.name, dir_fd=fd)
                    except FileNotFoundError:
                        pass
                    except OSError:
                        ok = False
                        stuck.add(e.name)
        except OSError:
            ok = False
        if sub is not None:
            try:
                child = os.open(sub, _DIR, dir_fd=fd)
            except OSError:
                ok = False
                stuck.add(sub)
                continue
            os.close(fd)
            fd = child
            stack.append((sub, stuck))
            stuck = set()
            continue
        if not stack:
            break
        name, stuck = stack.pop()
        try:
            parent = os.open("..", _DIR, dir_fd=fd)
        except OSError:
            ok = False
            break
        os.close(fd)
        fd = parent
        try:
            os.rmdir(name, dir_fd=fd)
        except OSError:
            ok = False
            stuck.add(name)
    os.close(fd)
    if not keep_top:
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass
        except OSError:
            ok = False
    return ok


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


def drop_privileges(unprivileged: tuple[int, int] | None, workdir: str) -> str:
    """Give up every capability, for good (the bounding and ambient sets too), and root's uid,
    before any program runs; '' if the uid is dropped (or was not root), else why it is not.

    Started by root, the sandbox would otherwise run programs with all of root's capabilities:
    seccomp and Landlock refuse the syscalls that need most of them, but not the ioctls on a file
    that a program may read (freezing or shutting down the host's file system, marking a host file
    immutable) nor reading files that their mode hides. A worker needs none (the zygote mounts the
    temp dirs). Without capabilities uid 0 still owns root's files: a program could open root's
    0600 files wherever Landlock lets it, or any file at all where Landlock is missing. So a root
    worker also becomes `unprivileged` (uid, gid; no supplementary groups): its temp dir is handed
    to that user first. Must run before the seccomp filter, which refuses the setuid family.
    `unprivileged` None (not root, or the zygote found that user cannot read the Python
    installation, and said so) keeps the uid; a switch the kernel refuses (a user namespace
    without that id) too, reported by the return value. Raises OSError if a capability is left.
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
    why = _become(*unprivileged, workdir) if unprivileged and os.geteuid() == 0 else ""
    head = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()  # all zero
    if _libc.capset(ctypes.byref(head), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    left = (_CapData * 2)()
    if _libc.capget(ctypes.byref(head), left) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    if any(d.effective or d.permitted or d.inheritable for d in left):
        raise OSError("capabilities left after capset")
    return why


def _become(uid: int, gid: int, workdir: str) -> str:
    """Switch every id of this (root) process to uid/gid, groups cleared; '' or why not (ids kept)."""
    gids = os.getresgid()
    try:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
    except OSError as e:
        return f"cannot switch to uid {uid}/gid {gid}: {e.strerror or e}"
    try:
        os.chown(workdir, uid, gid)  # the temp dir (mode 0700) must be the program's own
    except OSError as e:
        os.setresgid(*gids)
        return f"cannot give the temp dir to uid {uid}: {e.strerror or e}"
    try:
        os.setresuid(uid, uid, uid)
    except OSError as e:
        os.chown(workdir, 0, gids[1])  # still root: take the temp dir and the group back
        os.setresgid(*gids)
        return f"cannot switch to uid {uid}: {e.strerror or e}"
    if os.getresuid() != (uid,) * 3 or os.getresgid() != (gid,) * 3 or os.getgroups():
        raise OSError(f"ids not switched to {uid}/{gid}")
    return ""


def _searchable(path: str, uid: int, gid: int) -> bool:
    """Can uid/gid (no supplementary groups) search directory `path`, by its mode bits?"""
    st = os.stat(path)
    if st.st_uid == uid:
        return bool(st.st_mode & 0o100)
    return bool(st.st_mode & (0o010 if st.st_gid == gid else 0o001))


def expose_to(uid: int, gid: int, paths: list[str]) -> list[str]:
    """In this process's private mount namespace, make `paths` reachable for uid/gid where a
    directory above one is not searchable for it (a Python installed under root's 0700 home):
    that directory is covered by an empty tmpfs (what else it holds is then hidden from every
    worker, a gain) in which only those paths are bind-mounted back, at the same place. Returns
    the directories covered. The host's view is unchanged (the namespace's mounts are private)."""
    blocked: dict[str, list[str]] = {}
    for p in sorted({os.path.realpath(p) for p in paths}):
        parts = p.strip("/").split("/")
        for k in range(1, len(parts)):
            up = "/" + "/".join(parts[:k])
            if not _searchable(up, uid, gid):
                blocked.setdefault(up, []).append(p)
                break
    covered = []
    for top, inside in blocked.items():
        keep = [p for p in inside if not any(p.startswith(q + "/") for q in inside)]
        fds = [os.open(p, os.O_PATH | os.O_CLOEXEC) for p in keep]  # reachable once `top` is covered
        try:
            opts = b"size=1m,mode=0755"
            if _libc.mount(b"tmpfs", top.encode(), b"tmpfs", ctypes.c_ulong(MS_NOSUID | MS_NODEV | MS_NOEXEC), opts):
                continue
            covered.append(top)
            for p, fd in zip(keep, fds):
                if os.path.isdir(f"/proc/self/fd/{fd}"):
                    os.makedirs(p, 0o755, exist_ok=True)
                else:
                    os.makedirs(os.path.dirname(p), 0o755, exist_ok=True)
                    os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o444))
                src = f"/proc/self/fd/{fd}".encode()
                if _libc.mount(src, p.encode(), None, ctypes.c_ulong(MS_BIND | MS_REC), None):
                    raise OSError(ctypes.get_errno(), f"bind mount of {p}")
        finally:
            for fd in fds:
                os.close(fd)
    return covered


def unprivileged_cannot_reach(uid: int, gid: int, read: list[str], search: list[str]) -> str:
    """'' if `uid`/`gid` (no supplementary groups) can read all of `read` and search the `search`
    directories, else what it cannot (or why the switch failed): tried in a short-lived child,
    which really switches."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        out = "the check failed"
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            bad = [p for p in read if not os.access(p, os.R_OK | (os.X_OK if os.path.isdir(p) else 0))]
            bad += [p for p in search if not os.access(p, os.X_OK)]
            out = f"uid {uid} cannot read {', '.join(bad)}" if bad else ""
        except OSError as e:
            out = f"cannot switch to uid {uid}/gid {gid}: {e.strerror or e}"
        finally:
            os.write(w, out.encode()[:4000] or b"ok")
            os._exit(0)
    os.close(w)
    try:
        got = os.read(r, 4096).decode(errors="replace")
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    return "" if got == "ok" else got or "the check failed"


def null_stdio() -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)
