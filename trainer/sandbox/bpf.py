"""Hand-built seccomp BPF for x86_64, used when libseccomp is not installed.

Same policy as `seccomp.compile_filter`: default allow; EPERM for the deny list; ENOSYS for clone3
(so glibc falls back to clone, which is refused); prlimit64 only on this process and only to read
limits or move the CPU limit; with `confine_files`, every open with a write/create/truncate/append
flag and every file-system mutation refused. Syscalls of the x32 ABI and any other architecture
kill the process. Numbers are from the kernel's asm/unistd_64.h (a test checks them against
libseccomp's table where the library exists).
"""
from __future__ import annotations

import errno
import os
import platform
import struct

from .seccomp import ALWAYS_DENY, FS_MUTATION_DENY, RLIMIT_CPU

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
RET_KILL_PROCESS, RET_ERRNO, RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
LD_W_ABS, JEQ_K, JGE_K, JSET_K, RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
OFF_NR, OFF_ARCH = 0, 4


def _arg_lo(i: int) -> int:
    return 16 + 8 * i


def _arg_hi(i: int) -> int:
    return 16 + 8 * i + 4


X86_64 = {
    "open": 2, "shmget": 29, "shmat": 30, "shmctl": 31, "socket": 41, "connect": 42, "accept": 43,
    "bind": 49, "listen": 50, "socketpair": 53, "clone": 56, "fork": 57, "vfork": 58, "execve": 59,
    "kill": 62, "semget": 64, "semop": 65, "semctl": 66, "msgget": 68, "msgsnd": 69, "msgrcv": 70,
    "msgctl": 71, "truncate": 76, "rename": 82, "mkdir": 83, "rmdir": 84, "creat": 85, "link": 86,
    "unlink": 87, "symlink": 88, "chmod": 90, "fchmod": 91, "chown": 92, "fchown": 93,
    "lchown": 94, "ptrace": 101, "syslog": 103, "setuid": 105, "setgid": 106, "setreuid": 113,
    "setregid": 114, "setgroups": 116, "setresuid": 117, "setresgid": 119, "setfsuid": 122,
    "setfsgid": 123, "capset": 126, "rt_sigqueueinfo": 129, "utime": 132, "mknod": 133,
    "personality": 135, "vhangup": 153, "pivot_root": 155, "prctl": 157, "adjtimex": 159,
    "setrlimit": 160, "chroot": 161, "acct": 163, "settimeofday": 164, "mount": 165,
    "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "sethostname": 170,
    "setdomainname": 171, "iopl": 172, "ioperm": 173, "init_module": 175, "delete_module": 176,
    "quotactl": 179, "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190, "removexattr": 197,
    "lremovexattr": 198, "fremovexattr": 199, "tkill": 200, "lookup_dcookie": 212,
    "semtimedop": 220, "clock_settime": 227, "tgkill": 234, "utimes": 235, "mq_open": 240,
    "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243, "mq_notify": 244,
    "mq_getsetattr": 245, "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250,
    "openat": 257, "mkdirat": 258, "mknodat": 259, "fchownat": 260, "futimesat": 261,
    "unlinkat": 263, "renameat": 264, "linkat": 265, "symlinkat": 266, "fchmodat": 268,
    "unshare": 272, "utimensat": 280, "accept4": 288, "rt_tgsigqueueinfo": 297,
    "perf_event_open": 298, "fanotify_init": 300, "prlimit64": 302, "name_to_handle_at": 303,
    "open_by_handle_at": 304, "clock_adjtime": 305, "setns": 308, "process_vm_readv": 310,
    "process_vm_writev": 311, "kcmp": 312, "finit_module": 313, "renameat2": 316, "seccomp": 317,
    "kexec_file_load": 320, "bpf": 321, "execveat": 322, "userfaultfd": 323,
    "pidfd_send_signal": 424, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
    "fsmount": 432, "fspick": 433, "pidfd_open": 434, "clone3": 435, "openat2": 437,
    "pidfd_getfd": 438, "process_madvise": 440, "mount_setattr": 442, "quotactl_fd": 443,    "fchmodat2": 452,
}


class _Prog:
    """Tiny assembler: forward jumps to named labels, resolved at the end."""

    def __init__(self):
        self.ins: list[tuple[int, object, object, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int, jt: object = 0, jf: object = 0) -> None:
        self.ins.append((code, jt, jf, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.ins)

    def assemble(self) -> bytes:
        out = []
        for pc, (code, jt, jf, k) in enumerate(self.ins):
            def rel(t):
                if isinstance(t, str):
                    d = self.labels[t] - pc - 1
                    if not 0 <= d <= 255:
                        raise ValueError(f"jump to {t} out of range")
                    return d
                return t
            out.append(struct.pack("=HBBI", code, rel(jt), rel(jf), k & 0xFFFFFFFF))
        return b"".join(out)


def build_filter(confine_files: bool) -> tuple[bytes | None, str]:
    if platform.machine() not in ("x86_64", "AMD64"):
        return None, f"no built-in seccomp table for {platform.machine()} (install libseccomp2)"
    deny = sorted({X86_64[n] for n in ALWAYS_DENY if n in X86_64}
                  | ({X86_64[n] for n in FS_MUTATION_DENY if n in X86_64} if confine_files else set()))
    p = _Prog()
    p.op(LD_W_ABS, OFF_ARCH)
    p.op(JEQ_K, AUDIT_ARCH_X86_64, 0, "kill")
    p.op(LD_W_ABS, OFF_NR)
    p.op(JGE_K, X32_SYSCALL_BIT, "kill", 0)
    # Deny list in chunks so every jump stays within BPF's 8-bit offsets.
    for start in range(0, len(deny), 64):
        chunk = deny[start:start + 64]
        for nr in chunk:
            p.op(JEQ_K, nr, f"deny{start}", 0)
        p.op(0x05, 0)  # ja +0 placeholder keeps layout simple: fall through to the next chunk
        skip = len(p.ins) - 1
        p.ins[skip] = (0x05, 0, 0, 1)  # jump over the local deny trampoline
        p.label(f"deny{start}")
        p.op(RET_K, RET_ERRNO | errno.EPERM)
    p.op(JEQ_K, X86_64["clone3"], 0, 1)
    p.op(RET_K, RET_ERRNO | errno.ENOSYS)
    p.op(JEQ_K, X86_64["prlimit64"], "prlimit", 0)
    if confine_files:
        p.op(JEQ_K, X86_64["open"], "flags1", 0)
        p.op(JEQ_K, X86_64["openat"], "flags2", 0)
    p.op(RET_K, RET_ALLOW)
    # prlimit64(pid, resource, new, old): pid must be 0; unless resource is RLIMIT_CPU, new must be NULL.
    p.label("prlimit")
    p.op(LD_W_ABS, _arg_lo(0))
    p.op(JEQ_K, 0, 0, "eperm")
    p.op(LD_W_ABS, _arg_hi(0))
    p.op(JEQ_K, 0, 0, "eperm")
    p.op(LD_W_ABS, _arg_hi(1))
    p.op(JEQ_K, 0, 0, "newcheck")
    p.op(LD_W_ABS, _arg_lo(1))
    p.op(JEQ_K, RLIMIT_CPU, "allow", 0)
    p.label("newcheck")
    p.op(LD_W_ABS, _arg_lo(2))
    p.op(JEQ_K, 0, 0, "eperm")
    p.op(LD_W_ABS, _arg_hi(2))
    p.op(JEQ_K, 0, "allow", "eperm")
    if confine_files:
        write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
        p.label("flags1")
        p.op(LD_W_ABS, _arg_lo(1))
        p.op(JSET_K, write_flags, "eperm", "allow")
        p.label("flags2")
        p.op(LD_W_ABS, _arg_lo(2))
        p.op(JSET_K, write_flags, "eperm", "allow")
    p.label("allow")
    p.op(RET_K, RET_ALLOW)
    p.label("eperm")
    p.op(RET_K, RET_ERRNO | errno.EPERM)
    p.label("kill")
    p.op(RET_K, RET_KILL_PROCESS)
    what = "deny-list, built-in BPF (processes, exec, sockets, signals, namespaces, kernel interfaces"
    what += ", all file writes)" if confine_files else ")"
    return p.assemble(), what
