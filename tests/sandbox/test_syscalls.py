"""The seccomp layer on its own: raw syscalls from a process that loaded the real filters.

Independent of the audit hook (which would stop a Python program before the syscall): a forked
child loads the worker filter and then the program filter, exactly as a program's process does,
and calls each syscall through libc with arguments that are harmless if the call is allowed
(a pid that does not exist, a NULL buffer: the kernel then answers ESRCH/EFAULT/EINVAL, or does
nothing). Refused means EPERM, which the filter returns before the kernel looks at arguments.
Run for both implementations: libseccomp and the built-in BPF.
"""

import ctypes
import errno
import json
import mmap
import os
import platform
import signal

import pytest

from trainer.sandbox import bpf, seccomp
from trainer.sandbox.zygote import compile_filters

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="syscall numbers are x86_64")

# The numbers the tests need, whatever the filters' table holds.
NR = dict(bpf.X86_64, getpid=39, sync=162, syncfs=306, inotify_init=253, inotify_add_watch=254, inotify_init1=294)
NR.update(inotify_rm_watch=255, fanotify_init=300, fanotify_mark=301)
NOPID = 0x3FFFFFFF  # above pid_max: no such process
PRIO_PROCESS, PRIO_PGRP, PRIO_USER = 0, 1, 2
F_GETFL, F_SETOWN, F_SETSIG, F_SETLEASE = 3, 8, 10, 1024
HIGH = 1 << 32  # a bit above the 32 that the kernel reads of a command
CLONE_SIGHAND = 0x800  # without CLONE_VM: EINVAL if clone is allowed at all (never forks)


def attacks(ppid: int, fd: int) -> list[tuple[str, str, tuple]]:
    """(label, syscall, args) that a program must not be able to make."""
    return [
        ("affinity of parent", "sched_setaffinity", (ppid, 8, None)),
        ("affinity of self", "sched_setaffinity", (0, 8, None)),
        ("setpriority process", "setpriority", (PRIO_PROCESS, NOPID, 19)),
        ("setpriority group", "setpriority", (PRIO_PGRP, 0, 19)),
        ("setpriority user", "setpriority", (PRIO_USER, 54321, 19)),
        ("getpriority user", "getpriority", (PRIO_USER, 0)),
        ("getpriority other", "getpriority", (PRIO_PROCESS, ppid)),
        ("setscheduler", "sched_setscheduler", (NOPID, 5, None)),
        ("setparam", "sched_setparam", (NOPID, None)),
        ("setattr", "sched_setattr", (NOPID, None, 0)),
        ("getaffinity of parent", "sched_getaffinity", (ppid, 128, None)),
        ("getscheduler of parent", "sched_getscheduler", (ppid,)),
        ("rr interval of parent", "sched_rr_get_interval", (ppid, None)),
        ("ioprio_set", "ioprio_set", (1, NOPID, 0)),
        ("ioprio_get other", "ioprio_get", (1, ppid)),
        ("migrate_pages", "migrate_pages", (NOPID, 0, None, None)),
        ("move_pages", "move_pages", (NOPID, 0, None, None, None, 0)),
        ("set_mempolicy", "set_mempolicy", (0, None, 0)),
        ("mbind", "mbind", (None, 0, 0, None, 0, 0)),
        ("prlimit64 other pid", "prlimit64", (NOPID, 7, None, None)),
        ("prlimit64 write own", "prlimit64", (0, 9, "buf", None)),
        ("process_vm_readv", "process_vm_readv", (ppid, None, 0, None, 0, 0)),
        ("process_vm_writev", "process_vm_writev", (ppid, None, 0, None, 0, 0)),
        ("ptrace", "ptrace", (3, NOPID, 0, 0)),
        ("kill parent", "kill", (ppid, 0)),
        ("kill self", "kill", (os.getpid(), 0)),
        ("tgkill", "tgkill", (ppid, ppid, 0)),
        ("tkill", "tkill", (ppid, 0)),
        ("pidfd_open", "pidfd_open", (ppid, 0)),
        ("kcmp", "kcmp", (ppid, ppid, 0, 0, 0)),
        ("get_robust_list", "get_robust_list", (ppid, None, None)),
        ("getpgid other", "getpgid", (ppid,)),
        ("getsid other", "getsid", (ppid,)),
        ("setsid", "setsid", ()),
        ("setpgid", "setpgid", (0, 0)),
        ("perf_event_open", "perf_event_open", (None, 0, -1, -1, 0)),
        ("bpf", "bpf", (0, None, 0)),
        ("userfaultfd", "userfaultfd", (0,)),
        ("keyctl", "keyctl", (0, -3, 0)),
        ("add_key", "add_key", (None, None, None, 0, 0)),
        ("mount", "mount", (None, None, None, 0, None)),
        ("unshare", "unshare", (0,)),
        ("setns", "setns", (-1, 0)),
        ("clone", "clone", (CLONE_SIGHAND, 0, None, None, 0)),
        ("prctl", "prctl", (3, 0, 0, 0, 0)),
        ("seccomp", "seccomp", (2, 0, None)),
        ("io_uring", "io_uring_setup", (0, None)),
        ("mlock", "mlock", (None, 0)),
        ("memfd_secret", "memfd_secret", (0,)),
        ("memfd_create", "memfd_create", (None, 0)),
        ("process_madvise", "process_madvise", (-1, None, 0, 0, 0)),
        ("fcntl F_SETOWN", "fcntl", (fd, F_SETOWN, ppid)),
        ("fcntl F_SETSIG", "fcntl", (fd, F_SETSIG, 9)),
        ("ioctl FIOSETOWN", "ioctl", (fd, seccomp.FIOSETOWN, None)),
        ("ioctl TIOCSTI", "ioctl", (fd, seccomp.TIOCSTI, None)),
        # The kernel keeps only the low 32 bits of these commands: a higher bit must not pass.
        ("fcntl F_SETOWN, high bit", "fcntl", (fd, HIGH | F_SETOWN, ppid)),
        ("ioctl TIOCSTI, high bit", "ioctl", (fd, HIGH | seccomp.TIOCSTI, None)),
        # File systems' ioctls work on an fd open only for reading: a library file made immutable
        # or verity-sealed for good, the host's file system frozen or shut down (on this pipe the
        # kernel would answer ENOTTY).
        ("ioctl FS_IOC_SETFLAGS", "ioctl", (fd, 0x40086602, None)),
        ("fcntl F_SETLEASE", "fcntl", (fd, F_SETLEASE, 0)),
        ("sync", "sync", ()),
        ("syncfs", "syncfs", (-1,)),
        ("ioctl FS_IOC_ENABLE_VERITY", "ioctl", (fd, 0x40806685, None)),
        ("ioctl FIFREEZE", "ioctl", (fd, 0xC0045877, None)),
        ("ioctl FS_IOC_SHUTDOWN", "ioctl", (fd, 0x8004587D, None)),
        ("ioctl FS_IOC_SETVERSION", "ioctl", (fd, 0x40087602, None)),
        ("ioctl btrfs subvolume flags", "ioctl", (fd, 0x4008941A, None)),
        # Watching files, which Landlock does not mediate: when the trainer or another worker's
        # program reads a library file. Allowed, each would answer with an fd or EBADF/EFAULT.
        ("inotify_init", "inotify_init", ()),
        ("inotify_init1", "inotify_init1", (0,)),
        ("inotify_add_watch", "inotify_add_watch", (fd, None, 1)),
        ("inotify_rm_watch", "inotify_rm_watch", (fd, 1)),
        ("fanotify_init", "fanotify_init", (0, 0)),
        ("fanotify_mark", "fanotify_mark", (fd, 1, 1, -100, None)),
    ]


def needed(fd: int) -> list[tuple[str, str, tuple]]:
    """What Python and numpy do on themselves: must keep working."""
    return [
        ("own affinity", "sched_getaffinity", (0, 128, "buf")),
        ("own limits", "prlimit64", (0, 7, None, "buf")),
        ("own priority", "getpriority", (PRIO_PROCESS, 0)),
        ("own scheduler", "sched_getscheduler", (0,)),
        ("own io priority", "ioprio_get", (1, 0)),
        ("own pgid", "getpgid", (0,)),
        ("fcntl F_GETFL", "fcntl", (fd, F_GETFL, 0)),
        ("ioctl FIOCLEX", "ioctl", (fd, 0x5451, None)),  # what os.set_inheritable uses
        ("ioctl FIONREAD", "ioctl", (fd, 0x541B, "buf")),
        ("getpid", "getpid", ()),
    ]


def _call(libc, name: str, args: tuple) -> tuple[int, int]:
    buf = ctypes.create_string_buffer(256)
    cargs = [ctypes.c_long(a) if isinstance(a, int) else (buf if a == "buf" else None) for a in args]
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(NR[name]), *cargs)
    return ret, ctypes.get_errno()


def _run_confined(filters: list[bytes], calls) -> dict[str, list[int]]:
    """Fork, load `filters` in order, make the calls; {label: [return value, errno]}."""
    r, w = os.pipe()
    ppid = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            fr, fw = os.pipe()
            for f in filters:
                seccomp.load_filter(f)
            out = {label: list(_call(libc, name, args)) for label, name, args in calls(ppid, fr)}
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


@pytest.fixture(scope="module", params=["libseccomp", "builtin"])
def filters(request):
    if request.param == "libseccomp" and seccomp._load_lib() is None:
        pytest.skip("libseccomp not installed")
    bpfs, desc = compile_filters(confine_files=False, builtin=request.param == "builtin")
    assert bpfs, desc
    return bpfs


def test_program_process_cannot_reach_other_processes_or_the_kernel(filters):
    got = _run_confined([filters["worker"], filters["program"]], attacks)
    refused = {label for label, (ret, err) in got.items() if ret == -1 and err == errno.EPERM}
    assert refused == set(got), sorted(set(got) - refused)


def test_what_python_needs_on_itself_still_works(filters):
    got = _run_confined([filters["worker"], filters["program"]], lambda ppid, fd: needed(fd))
    assert all(ret >= 0 for ret, _ in got.values()), got


def test_worker_keeps_fork_kill_and_prctl_but_nothing_else(filters):
    got = _run_confined([filters["worker"]], attacks)
    allowed_to_worker = {"clone", "kill parent", "kill self", "prctl", "prlimit64 write own"}
    for label, (ret, err) in got.items():
        refused = ret == -1 and err == errno.EPERM
        assert refused != (label in allowed_to_worker), (label, ret, err)


def test_program_filter_holds_only_what_it_adds_to_the_worker_filter(filters):
    """Loaded by every program's process, it stays small; the worker filter under it does the rest."""

    def refused(filters):
        got = _run_confined(filters, attacks)
        return {label for label, (ret, err) in got.items() if ret == -1 and err == errno.EPERM}

    by_kernel = refused([])  # e.g. setpgid of a process that may not change its group
    assert (
        refused([filters["program"]]) - by_kernel
        == {"clone", "kill parent", "kill self", "prctl", "prlimit64 write own"} - by_kernel
    )
    assert len(filters["program"]) // 8 < 40 < len(filters["worker"]) // 8  # BPF instructions


# A deny list by syscall number is only sound for the numbers it was written for: x86_64 Linux also
# takes the x32 table (numbers with bit 0x40000000, 0x40000000 + 39 is getpid) and the i386 table
# through `int 0x80` (getpid is 20 there, writev in the x86_64 table). Both filters must kill a
# process that uses them, or every refused call would be reachable through them.
X32_GETPID = 0x40000000 + 39
# mov eax, 20 (i386 getpid); int 0x80; ret  -- returns the pid in eax
I386_GETPID = b"\xb8\x14\x00\x00\x00\xcd\x80\xc3"


def _i386_getpid():
    """A callable that makes getpid through the i386 ABI (code in an executable page)."""
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(I386_GETPID)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    return page, ctypes.CFUNCTYPE(ctypes.c_int)(address)


def _x32_getpid():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return lambda: libc.syscall(ctypes.c_long(X32_GETPID))


def _in_child(filters: list[bytes], call) -> tuple[int | None, int | None]:
    """Fork, load `filters`, make `call`; (value it returned or None, signal that ended the child)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            for f in filters:
                seccomp.load_filter(f)
            os.write(w, str(call()).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = os.read(r, 64)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return (int(data) if data else None), (os.WTERMSIG(status) if os.WIFSIGNALED(status) else None)


@pytest.mark.parametrize("make_call", [_x32_getpid, _i386_getpid], ids=["x32", "i386"])
def test_a_foreign_syscall_table_kills_the_program(filters, make_call):
    made = make_call()
    call = made[1] if isinstance(made, tuple) else made
    # The filter sees the call before the kernel looks up its table, so the process dies even
    # where this kernel would answer ENOSYS (x32 is often compiled out). Unfiltered, the call
    # must return normally, or the test proves nothing about the filter.
    value, sig = _in_child([], call)
    assert value is not None and sig is None
    value, sig = _in_child([filters["worker"], filters["program"]], call)
    assert (value, sig) == (None, signal.SIGSYS)
