"""Seccomp policy of the sandbox and its compilation with libseccomp (see bpf.py for the fallback).

Two filters, both compiled once in the zygote and loaded by prctl (a fork is all a process pays):
  * the worker filter, loaded by each worker (a small fork server that runs no program itself);
  * the program filter, stacked on top of it by the child forked for each program. Seccomp filters
    only ever add restrictions and can never be removed, so the child gets the union: the program
    filter holds just the worker's few extra rights (fork, kill its own children, prctl, setting
    limits), taken away before any program code runs. Kept that small because every child loads
    it (the kernel checks and compiles it on each load) and every syscall of a program runs it.

Default-allow with an explicit deny list: CPython and numpy use too many ordinary syscalls for an
allow list to stay correct across versions, while everything that lets a program reach outside its
own process is a short, stable list (new processes, exec, sockets, signals, tracing, other
processes' scheduling/memory/limits, namespaces, mounts, kernel interfaces). Syscalls that name a
process are allowed only on the caller itself (pid 0), which is all that Python and numpy need
(`os.sched_getaffinity(0)`, `resource.getrlimit`). File access is confined by Landlock when the
kernel has it; without Landlock the filter also refuses every open-for-write and file mutation.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os

LIBSECCOMP_PATHS = (
    "libseccomp.so.2",
    "/usr/lib/x86_64-linux-gnu/libseccomp.so.2",
    "/usr/lib/aarch64-linux-gnu/libseccomp.so.2",
    "/usr/lib64/libseccomp.so.2",
)

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_NE, SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ = 1, 4, 7


def SCMP_ACT_ERRNO(e: int) -> int:
    return 0x00050000 | (e & 0xFFFF)


# Refused to workers and programs alike.
ALWAYS_DENY = (
    # new programs and processes (clone is handled per stage), threads via clone3 (see below)
    "execve execveat fork vfork "
    # networking
    "socket socketpair connect bind listen accept accept4 "
    # signals and process handles: no other process may be signalled, traced, read or compared
    "tkill tgkill rt_sigqueueinfo rt_tgsigqueueinfo pidfd_open pidfd_send_signal pidfd_getfd "
    "ptrace process_vm_readv process_vm_writev process_madvise process_mrelease kcmp "
    # scheduling, priorities, NUMA placement and memory of any process (setters: never needed)
    "sched_setaffinity sched_setscheduler sched_setparam sched_setattr setpriority ioprio_set "
    "migrate_pages move_pages set_mempolicy set_mempolicy_home_node mbind "
    "setpgid setsid get_robust_list mlock mlock2 mlockall memfd_secret "
    # anonymous files: memory outside RLIMIT_AS and the size-capped temp dir
    "memfd_create "
    # namespaces, mounts, identity
    "unshare setns mount umount2 pivot_root chroot move_mount open_tree open_tree_attr fsopen "
    "fsconfig fsmount fspick mount_setattr listmount statmount "
    "setuid setgid setreuid setregid setresuid setresgid setgroups setfsuid setfsgid capset "
    # privileged or kernel-wide interfaces
    "bpf perf_event_open userfaultfd io_uring_setup io_uring_enter io_uring_register "
    "keyctl add_key request_key personality seccomp setrlimit modify_ldt uselib ustat sysfs "
    "kexec_load kexec_file_load reboot init_module finit_module delete_module swapon swapoff "
    "sethostname setdomainname iopl ioperm acct quotactl quotactl_fd syslog vhangup "
    "settimeofday clock_settime clock_adjtime adjtimex name_to_handle_at open_by_handle_at "
    "fanotify_init fanotify_mark lookup_dcookie lsm_set_self_attr "
    # watching files: Landlock does not mediate inotify/fanotify marks, and a watch on a library
    # file shows when other processes read it (the trainer, or programs in other workers)
    "inotify_init inotify_init1 inotify_add_watch inotify_rm_watch "
    # writing back every dirty page of the host (or of one of its file systems), over and over
    "sync syncfs "
    # SysV / POSIX IPC (shared with every process of the host)
    "shmget shmat shmctl msgget msgsnd msgrcv msgctl semget semop semtimedop semctl "
    "mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr "
    # file metadata (Landlock has no rights for these)
    "chmod fchmod fchmodat fchmodat2 chown fchown fchownat lchown file_setattr "
    "utime utimes utimensat futimesat setxattr lsetxattr fsetxattr setxattrat removexattr "
    "lremovexattr fremovexattr removexattrat mknod mknodat"
).split()

# The worker forks one child per program and kills it on timeout; the program may do neither.
PROGRAM_DENY = ("clone", "kill", "prctl")

# Getters that name a process by pid (first argument): only pid 0 (= the caller) is allowed.
SELF_ONLY_PID_ARG0 = (
    "sched_getaffinity",
    "sched_getscheduler",
    "sched_getparam",
    "sched_getattr",
    "sched_rr_get_interval",
    "getpgid",
    "getsid",
    "prlimit64",
)

# Only when Landlock is missing: no file may be created, changed or removed anywhere.
FS_MUTATION_DENY = (
    "creat unlink unlinkat rename renameat renameat2 mkdir mkdirat rmdir link linkat symlink symlinkat truncate openat2"
).split()

O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND = os.O_WRONLY, os.O_RDWR, os.O_CREAT, os.O_TRUNC, os.O_APPEND
PRIO_PROCESS, IOPRIO_WHO_PROCESS = 0, 1
# fcntl/ioctl commands that make the kernel signal another process when an fd becomes ready
# (SIGIO ownership) or push input into a terminal; a lease on a file the program owns (it runs as
# the sandbox's user) makes every other process that opens it for writing wait.
F_SETOWN, F_SETSIG, F_SETOWN_EX, F_SETLEASE = 8, 10, 15, 1024
FIOSETOWN, SIOCSPGRP, TIOCSTI = 0x8901, 0x8902, 0x5412

# ioctl families of file systems, by type (bits 8-15 of the command): 'f' (FS_IOC_SETFLAGS,
# FS_IOC_ENABLE_VERITY, ext4's), 'X' (FIFREEZE, FS_IOC_SHUTDOWN, FS_IOC_FSSETXATTR, xfs'), 'v'
# (FS_IOC_SETVERSION), 'r' (FAT attributes), btrfs (0x94), f2fs (0xf5). They act on the file
# system under an fd that may be open only for reading: programs run as the user who started the
# sandbox and own that user's files, so Landlock's read-only access to the Python installation
# would not keep them from making a library file immutable or verity-sealed for good, or (with
# root's capabilities) from freezing the host's file system. Python and numpy use none of them.
FS_IOCTL_TYPES = (0x66, 0x58, 0x76, 0x72, 0x94, 0xF5)
LOW32 = 0xFFFFFFFF

DENY_ERRNO = errno.EPERM

# (syscall, [(arg index, op, value), ...]): refused when every comparison holds. Ops: "ne", "eq"
# (64-bit), "meq" (value = (mask, datum): arg & mask == datum, mask within the low 32 bits).
Rule = tuple[str, list[tuple[int, str, object]]]


def conditional_rules(stage: str) -> list[Rule]:
    """Argument-filtered denials of `stage`: "worker", or "program" (only what it adds)."""
    if stage == "program":
        # The child sets its CPU and process limits before loading this filter; after that,
        # limits can only be read.
        return [("prlimit64", [(2, "ne", 0)])]
    rules: list[Rule] = [(name, [(0, "ne", 0)]) for name in SELF_ONLY_PID_ARG0]
    rules += [
        ("getpriority", [(0, "ne", PRIO_PROCESS)]),
        ("getpriority", [(1, "ne", 0)]),
        ("ioprio_get", [(0, "ne", IOPRIO_WHO_PROCESS)]),
        ("ioprio_get", [(1, "ne", 0)]),
    ]
    # The kernel reads fcntl's and ioctl's command as an unsigned int: compared on its low 32 bits,
    # or a command with any higher bit set would pass the filter and still be obeyed.
    rules += [("fcntl", [(1, "meq", (LOW32, c))]) for c in (F_SETOWN, F_SETSIG, F_SETOWN_EX, F_SETLEASE)]
    rules += [("ioctl", [(1, "meq", (LOW32, c))]) for c in (FIOSETOWN, SIOCSPGRP, TIOCSTI)]
    rules += [("ioctl", [(1, "meq", (0xFF00, t << 8))]) for t in FS_IOCTL_TYPES]
    return rules


def deny_list(stage: str, confine_files: bool) -> list[str]:
    """Syscalls refused outright by `stage`: "worker", or "program" (only what it adds)."""
    if stage == "program":
        return list(PROGRAM_DENY)
    return list(ALWAYS_DENY) + (FS_MUTATION_DENY if confine_files else [])


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def _load_lib():
    for path in LIBSECCOMP_PATHS + ((ctypes.util.find_library("seccomp") or ""),):
        if not path:
            continue
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def compile_filter(confine_files: bool, stage: str = "program") -> tuple[bytes | None, str]:
    """Build the BPF program of `stage`. Returns (bpf bytes or None, description)."""
    lib = _load_lib()
    if lib is None:
        return None, "libseccomp.so.2 not found"
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        return None, "seccomp_init failed"
    deny = SCMP_ACT_ERRNO(DENY_ERRNO)

    def cmp(i: int, op: str, v) -> tuple[int, int, int, int]:
        if op == "meq":  # libseccomp's masked compare: datum_a is the mask, datum_b the value
            return (i, SCMP_CMP_MASKED_EQ, v[0], v[1])
        return (i, {"ne": SCMP_CMP_NE, "eq": SCMP_CMP_EQ}[op], v, 0)

    def rule(name: str, action: int = deny, *cmps: tuple[int, int, int, int]) -> None:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:  # newer than this libseccomp: the kernel number where we know it
            nr = _native_numbers().get(name, -1)
        if nr < 0:  # unknown on this architecture
            return
        arr = (_ArgCmp * max(1, len(cmps)))(*[_ArgCmp(*c) for c in cmps])
        rc = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), arr)
        if rc < 0:
            raise OSError(-rc, f"seccomp rule for {name}")

    try:
        for name in deny_list(stage, confine_files):
            rule(name)
        # glibc falls back from clone3 to clone only on ENOSYS; clone is then refused (program)
        # or used for fork only (worker).
        rule("clone3", SCMP_ACT_ERRNO(errno.ENOSYS))
        for name, cmps in conditional_rules(stage):
            rule(name, deny, *[cmp(i, op, v) for i, op, v in cmps])
        if confine_files and stage == "worker":  # kept by the program process: filters stack
            for flag in (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND):
                rule("open", deny, (1, SCMP_CMP_MASKED_EQ, flag, flag))
                rule("openat", deny, (2, SCMP_CMP_MASKED_EQ, flag, flag))
        fd = os.memfd_create("seccomp-bpf")
        try:
            rc = lib.seccomp_export_bpf(ctx, fd)
            if rc < 0:
                return None, f"seccomp_export_bpf failed ({rc})"
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            bpf = b"".join(chunks)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)
    return bpf, describe("libseccomp", confine_files)


def describe(how: str, confine_files: bool) -> str:
    what = (
        f"deny-list via {how} (processes, exec, sockets, signals, other processes' scheduling/"
        "memory/limits, namespaces, kernel interfaces"
    )
    return what + (", all file writes)" if confine_files else ")")


def _native_numbers() -> dict[str, int]:
    import platform

    from .bpf import X86_64

    return X86_64 if platform.machine() == "x86_64" else {}


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
_libc = ctypes.CDLL(None, use_errno=True)


class Prepared:
    """A BPF program ready for prctl: built before a fork, so the child only makes the call."""

    def __init__(self, bpf: bytes):
        self.buf = ctypes.create_string_buffer(bpf, len(bpf))
        self.prog = _SockFprog(len(bpf) // 8, ctypes.addressof(self.buf))
        self.ref = ctypes.byref(self.prog)
        self.args = (ctypes.c_ulong(SECCOMP_MODE_FILTER), self.ref, ctypes.c_ulong(0), ctypes.c_ulong(0))

    def load(self) -> None:
        """Install it in this (single-threaded) process, on top of any filter already loaded."""
        if _libc.prctl(PR_SET_SECCOMP, *self.args) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


def load_filter(bpf: bytes) -> None:
    """Set no_new_privs (required for an unprivileged filter) and install `bpf`."""
    if (
        _libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
        != 0
    ):
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    Prepared(bpf).load()
