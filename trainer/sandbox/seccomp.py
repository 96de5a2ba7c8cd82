"""Seccomp deny-list filter, compiled once in the zygote with libseccomp, loaded in each worker.

The filter is default-allow with an explicit deny list: CPython and numpy use too many ordinary
syscalls for an allow list to stay correct across versions, while everything that lets a program
leave the sandbox is a short, stable list (new processes, sockets, signals to others, namespaces,
mounts, tracing, kernel interfaces). File access is confined by Landlock when the kernel has it;
without Landlock the filter also refuses every open-for-write and every file-system mutation.

Compiling happens in the zygote (libseccomp is slow-ish and needs the library); the worker only
calls prctl with the exported BPF bytes, so a fork is all a new worker pays.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os

LIBSECCOMP_PATHS = ("libseccomp.so.2", "/usr/lib/x86_64-linux-gnu/libseccomp.so.2",
                    "/usr/lib/aarch64-linux-gnu/libseccomp.so.2", "/usr/lib64/libseccomp.so.2")

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_NE, SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ = 1, 4, 7


def SCMP_ACT_ERRNO(e: int) -> int:
    return 0x00050000 | (e & 0xFFFF)


# Leaving the sandbox: processes, exec, networking, signals to other processes, tracing,
# namespaces/mounts, privileged kernel interfaces, SysV/POSIX IPC, io_uring (bypasses seccomp).
ALWAYS_DENY = (
    "execve execveat fork vfork clone "
    "socket socketpair connect bind listen accept accept4 "
    "kill tkill tgkill rt_sigqueueinfo rt_tgsigqueueinfo pidfd_open pidfd_send_signal pidfd_getfd "
    "ptrace process_vm_readv process_vm_writev process_madvise kcmp "
    "unshare setns mount umount2 pivot_root chroot move_mount open_tree fsopen fsconfig fsmount "
    "fspick mount_setattr "
    "setuid setgid setreuid setregid setresuid setresgid setgroups setfsuid setfsgid capset "
    "bpf perf_event_open userfaultfd io_uring_setup io_uring_enter io_uring_register "
    "keyctl add_key request_key personality prctl seccomp setrlimit "
    "kexec_load kexec_file_load reboot init_module finit_module delete_module swapon swapoff "
    "sethostname setdomainname iopl ioperm acct quotactl quotactl_fd syslog vhangup "
    "settimeofday clock_settime clock_adjtime adjtimex name_to_handle_at open_by_handle_at "
    "fanotify_init lookup_dcookie "
    "shmget shmat shmctl msgget msgsnd msgrcv msgctl semget semop semtimedop semctl "
    "mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr "
    "chmod fchmod fchmodat fchmodat2 chown fchown fchownat lchown "
    "utime utimes utimensat futimesat setxattr lsetxattr fsetxattr removexattr lremovexattr "
    "fremovexattr mknod mknodat"
).split()

# Only when Landlock is missing: no file may be created, changed or removed anywhere.
FS_MUTATION_DENY = (
    "creat unlink unlinkat rename renameat renameat2 mkdir mkdirat rmdir link linkat symlink "
    "symlinkat truncate openat2"
).split()

O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND = os.O_WRONLY, os.O_RDWR, os.O_CREAT, os.O_TRUNC, os.O_APPEND
RLIMIT_CPU = 0

DENY_ERRNO = errno.EPERM


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


def _load_lib():
    for path in LIBSECCOMP_PATHS + ((ctypes.util.find_library("seccomp") or ""),):
        if not path:
            continue
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def compile_filter(confine_files: bool) -> tuple[bytes | None, str]:
    """Build the BPF program. Returns (bpf bytes or None, description)."""
    lib = _load_lib()
    if lib is None:
        return None, "libseccomp.so.2 not found"
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        return None, "seccomp_init failed"
    deny = SCMP_ACT_ERRNO(DENY_ERRNO)

    def rule(name: str, action: int = deny, *cmps: tuple[int, int, int, int]) -> None:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:  # syscall unknown on this architecture
            return
        arr = (_ArgCmp * max(1, len(cmps)))(*[_ArgCmp(*c) for c in cmps])
        rc = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), arr)
        if rc < 0:
            raise OSError(-rc, f"seccomp rule for {name}")

    try:
        for name in ALWAYS_DENY:
            rule(name)
        # glibc falls back from clone3 to clone only on ENOSYS; clone is then refused.
        rule("clone3", SCMP_ACT_ERRNO(errno.ENOSYS))
        # prlimit64: only this process, and only reading limits or moving the CPU soft limit
        # (the worker re-arms its CPU budget before each program).
        rule("prlimit64", deny, (0, SCMP_CMP_NE, 0, 0))
        rule("prlimit64", deny, (1, SCMP_CMP_NE, RLIMIT_CPU, 0), (2, SCMP_CMP_NE, 0, 0))
        if confine_files:
            for name in FS_MUTATION_DENY:
                rule(name)
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
    what = "deny-list (processes, exec, sockets, signals, namespaces, kernel interfaces"
    what += ", all file writes)" if confine_files else ")"
    return bpf, what


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2


def load_filter(bpf: bytes) -> None:
    """Install the exported BPF program in this (single-threaded) process."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
                  ctypes.c_ulong(0)) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = _SockFprog(len(bpf) // 8, ctypes.addressof(buf))
    if libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(prog),
                  ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")
