"""Hand-built seccomp BPF for x86_64: the fallback when libseccomp is not installed, and the
numbers of syscalls newer than the installed libseccomp knows.

Same policies as `seccomp.compile_filter` (deny list, argument-filtered denials, ENOSYS for clone3 so
glibc falls back to clone; with `confine_files` every open with a write/create/truncate/append
flag and every file-system mutation refused). Syscalls of the x32 ABI and any other architecture
kill the process. Numbers are from the kernel's syscall_64.tbl (a test checks them against
libseccomp's table where the library knows the name).
"""

from __future__ import annotations

import errno
import os
import platform
import struct

from .seccomp import conditional_rules, deny_list, describe

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
RET_KILL_PROCESS, RET_ERRNO, RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
LD_W_ABS, JEQ_K, JGE_K, JSET_K, JA, RET_K, AND_K = 0x20, 0x15, 0x35, 0x45, 0x05, 0x06, 0x54
OFF_NR, OFF_ARCH = 0, 4


def _arg_lo(i: int) -> int:
    return 16 + 8 * i


def _arg_hi(i: int) -> int:
    return 16 + 8 * i + 4


def _numbers(table: str) -> dict[str, int]:
    words = table.split()
    return {words[k]: int(words[k + 1]) for k in range(0, len(words), 2)}


# Syscall numbers ("name number" pairs), from the kernel's arch/x86/entry/syscalls/syscall_64.tbl.
X86_64 = _numbers("""
open 2  ioctl 16  shmget 29  shmat 30  shmctl 31  socket 41  connect 42  accept 43  bind 49
listen 50  socketpair 53  clone 56  fork 57  vfork 58  execve 59  kill 62  semget 64  semop 65
semctl 66  msgget 68  msgsnd 69  msgrcv 70  msgctl 71  fcntl 72  truncate 76  rename 82
mkdir 83  rmdir 84  creat 85  link 86  unlink 87  symlink 88  chmod 90  fchmod 91  chown 92
fchown 93  lchown 94  ptrace 101  syslog 103  setuid 105  setgid 106  setpgid 109  setsid 112
setreuid 113  setregid 114  setgroups 116  setresuid 117  setresgid 119  getpgid 121
setfsuid 122  setfsgid 123  getsid 124  capset 126  rt_sigqueueinfo 129  utime 132  mknod 133
uselib 134  personality 135  ustat 136  sysfs 139  getpriority 140  setpriority 141  sync 162
syncfs 306
sched_setparam 142  sched_getparam 143  sched_setscheduler 144  sched_getscheduler 145
sched_rr_get_interval 148  mlock 149  mlockall 151  vhangup 153  modify_ldt 154  pivot_root 155
prctl 157  adjtimex 159  setrlimit 160  chroot 161  acct 163  settimeofday 164  mount 165
umount2 166  swapon 167  swapoff 168  reboot 169  sethostname 170  setdomainname 171  iopl 172
ioperm 173  init_module 175  delete_module 176  quotactl 179  setxattr 188  lsetxattr 189
fsetxattr 190  removexattr 197  lremovexattr 198  fremovexattr 199  tkill 200
sched_setaffinity 203  sched_getaffinity 204  lookup_dcookie 212  semtimedop 220
clock_settime 227  tgkill 234  utimes 235  mbind 237  set_mempolicy 238  mq_open 240
mq_unlink 241  mq_timedsend 242  mq_timedreceive 243  mq_notify 244  mq_getsetattr 245
kexec_load 246  add_key 248  request_key 249  keyctl 250  ioprio_set 251  ioprio_get 252
inotify_init 253  inotify_add_watch 254  inotify_rm_watch 255  inotify_init1 294
migrate_pages 256  openat 257  mkdirat 258  mknodat 259  fchownat 260  futimesat 261
unlinkat 263  renameat 264  linkat 265  symlinkat 266  fchmodat 268  unshare 272
get_robust_list 274  move_pages 279  utimensat 280  accept4 288  rt_tgsigqueueinfo 297
perf_event_open 298  fanotify_init 300  fanotify_mark 301  prlimit64 302  name_to_handle_at 303
open_by_handle_at 304  clock_adjtime 305  setns 308  process_vm_readv 310
process_vm_writev 311  kcmp 312  finit_module 313  sched_setattr 314  sched_getattr 315
renameat2 316  seccomp 317  memfd_create 319  kexec_file_load 320  bpf 321  execveat 322  userfaultfd 323
mlock2 325  pidfd_send_signal 424  io_uring_setup 425  io_uring_enter 426
io_uring_register 427  open_tree 428  move_mount 429  fsopen 430  fsconfig 431  fsmount 432
fspick 433  pidfd_open 434  clone3 435  openat2 437  pidfd_getfd 438  process_madvise 440
mount_setattr 442  quotactl_fd 443  memfd_secret 447  process_mrelease 448
set_mempolicy_home_node 450  fchmodat2 452  statmount 457  listmount 458  lsm_set_self_attr 460
setxattrat 463  removexattrat 466  open_tree_attr 467  file_setattr 469
""")


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
                    limit = 0xFFFFFFFF if code == JA else 255
                    if not 0 <= d <= limit:
                        raise ValueError(f"jump to {t} out of range")
                    return d
                return t

            if code == JA:  # unconditional: the offset is k
                out.append(struct.pack("=HBBI", code, 0, 0, rel(jt)))
            else:
                out.append(struct.pack("=HBBI", code, rel(jt), rel(jf), k & 0xFFFFFFFF))
        return b"".join(out)


def _cmp(p: _Prog, arg: int, op: str, value, fail: str) -> None:
    """Fall through when arg `op` value holds (64-bit, "meq" on the low word), else jump to `fail`."""
    if op in ("eq", "ne"):
        lo, hi = value & 0xFFFFFFFF, value >> 32
    if op == "eq":
        p.op(LD_W_ABS, _arg_hi(arg))
        p.op(JEQ_K, hi, 0, fail)
        p.op(LD_W_ABS, _arg_lo(arg))
        p.op(JEQ_K, lo, 0, fail)
    elif op == "ne":  # holds unless both halves are equal
        n = len(p.ins)
        ok = f"ne{n}"
        p.op(LD_W_ABS, _arg_hi(arg))
        p.op(JEQ_K, hi, 0, ok)
        p.op(LD_W_ABS, _arg_lo(arg))
        p.op(JEQ_K, lo, fail, 0)
        p.label(ok)
    elif op == "meq":  # (low word & mask) == datum: the mask never reaches the high word
        mask, datum = value
        if mask > 0xFFFFFFFF:
            raise ValueError(f"mask {mask:#x} wider than 32 bits")
        p.op(LD_W_ABS, _arg_lo(arg))
        p.op(AND_K, mask)
        p.op(JEQ_K, datum, 0, fail)
    else:
        raise ValueError(op)


def build_filter(confine_files: bool, stage: str = "program") -> tuple[bytes | None, str]:
    if platform.machine() not in ("x86_64", "AMD64"):
        return None, f"no built-in seccomp table for {platform.machine()} (install libseccomp2)"
    deny = sorted({X86_64[n] for n in deny_list(stage, confine_files) if n in X86_64})
    conditional: dict[int, list[list[tuple[int, str, int]]]] = {}
    for name, cmps in conditional_rules(stage):
        conditional.setdefault(X86_64[name], []).append(cmps)
    if confine_files and stage == "worker":  # kept by the program process: filters stack
        write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
        conditional.setdefault(X86_64["open"], []).append([(1, "any", write_flags)])
        conditional.setdefault(X86_64["openat"], []).append([(2, "any", write_flags)])
    p = _Prog()
    p.op(LD_W_ABS, OFF_ARCH)
    p.op(JEQ_K, AUDIT_ARCH_X86_64, 1, 0)
    p.op(RET_K, RET_KILL_PROCESS)
    p.op(LD_W_ABS, OFF_NR)
    p.op(JGE_K, X32_SYSCALL_BIT, 0, 1)
    p.op(RET_K, RET_KILL_PROCESS)
    for nr in deny:  # each compare jumps at most to the trampoline right after it
        p.op(JEQ_K, nr, 0, 1)
        p.op(RET_K, RET_ERRNO | errno.EPERM)
    p.op(JEQ_K, X86_64["clone3"], 0, 1)
    p.op(RET_K, RET_ERRNO | errno.ENOSYS)
    for nr in conditional:
        p.op(JEQ_K, nr, 0, 1)
        p.op(JA, 0, f"sys{nr}")
    p.op(RET_K, RET_ALLOW)
    # One block per syscall: each rule is a conjunction; any rule holding means EPERM.
    for nr, rules in conditional.items():
        p.label(f"sys{nr}")
        for k, cmps in enumerate(rules):
            nxt = f"sys{nr}r{k + 1}"
            for arg, op, value in cmps:
                if op == "any":  # any of the bits in value set
                    p.op(LD_W_ABS, _arg_lo(arg))
                    p.op(JSET_K, value, 0, nxt)
                else:
                    _cmp(p, arg, op, value, nxt)
            p.op(RET_K, RET_ERRNO | errno.EPERM)
            p.label(nxt)
        p.op(RET_K, RET_ALLOW)
    return p.assemble(), describe("built-in BPF", confine_files)
