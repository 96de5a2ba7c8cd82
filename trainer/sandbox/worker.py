"""Worker process body: confine itself, then run programs one at a time for the parent.

Entered right after the zygote forks; never returns (always os._exit), so a failure here can never
fall back into the zygote's loop.
"""
from __future__ import annotations

import os
import resource
import signal
import socket
import tempfile
import time
import types

from . import isolation, landlock, protocol, seccomp
from .runner import Deadline, Runner, classify

MAX_TASK_BYTES = 64 * 1024 * 1024


def worker_main(sock_fd: int, workdir: str, cfg: dict, bpf: bytes | None, ruleset_fd: int | None,
                common: types.ModuleType, base_protections: dict) -> None:
    code = 70
    try:
        _serve(sock_fd, workdir, cfg, bpf, ruleset_fd, common, base_protections)
        code = 0
    except BaseException:  # noqa: BLE001 - the process ends either way; the parent classifies
        pass
    os._exit(code)


def _serve(sock_fd, workdir, cfg, bpf, ruleset_fd, common, base_protections) -> None:
    isolation.die_with_parent()
    for s in (signal.SIGCHLD, signal.SIGTERM, signal.SIGXCPU, signal.SIGPIPE):
        signal.signal(s, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized writes fail with EFBIG instead
    signal.set_wakeup_fd(-1)
    isolation.null_stdio()
    keep = {sock_fd} | ({ruleset_fd} if ruleset_fd is not None else set())
    isolation.close_fds_except(keep)
    os.chdir(workdir)
    os.environ["TMPDIR"] = os.environ["HOME"] = workdir
    tempfile.tempdir = workdir
    sock = socket.socket(fileno=sock_fd)
    prot = dict(base_protections)
    cpu_life = int(cfg["recycle_every"] * (cfg["timeout_s"] * 2 + 1) + 60)
    prot["rlimits"] = isolation.apply_rlimits(cfg["memory_mb"], cpu_life, nofile=64)
    # Fail closed: the zygote chose the filter assuming these layers work, so a worker that
    # cannot apply one must not run programs; it tells the parent why and exits.
    try:
        if ruleset_fd is not None:
            landlock.restrict_self(ruleset_fd)
            os.close(ruleset_fd)
        if bpf:
            seccomp.load_filter(bpf)
        runner = Runner(common, cfg["stdout_cap"], cfg["input_format"], workdir)
    except BaseException as e:  # noqa: BLE001
        protocol.send(sock, {"fatal": f"{type(e).__name__}: {e}"[:500]})
        raise
    prot["audit_hook"] = "unsafe-operation classification, shared-state poisoning check"
    protocol.send(sock, {"hello": prot, "pid": os.getpid()})
    timeout_s = cfg["timeout_s"]
    served = 0
    reader = protocol.BlockingReader(sock, MAX_TASK_BYTES)
    while True:
        try:
            msg = reader.next()
        except EOFError:
            return
        if msg.get("quit"):
            return
        if served % CPU_REARM_EVERY == 0:
            _arm_cpu(timeout_s * 2 * CPU_REARM_EVERY)
        served += 1
        cpu0 = time.thread_time()
        try:
            res = runner.run(msg["src"], msg["key"], msg.get("inputs"), timeout_s,
                             cfg["check_determinism"], msg.get("seed", 0))
        except Deadline:  # fired in the narrow window around the program
            res = {"outputs": None, "error": "timeout", "detail": "wall-clock limit", "recycle": True}
        except BaseException as e:  # noqa: BLE001
            res = classify(e)
            res["recycle"] = True
        res["t"] = msg["t"]
        res["cpu"] = time.thread_time() - cpu0
        protocol.send(sock, res)
        if res.get("recycle"):
            return


# The CPU rlimit is a backstop behind the parent's wall-clock kill; re-arming it costs three
# syscalls, so it covers a few programs at a time.
CPU_REARM_EVERY = 8


def _arm_cpu(timeout_s: float) -> None:
    """Soft CPU limit = CPU used so far + the budget given (SIGXCPU ends the worker)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    used = ru.ru_utime + ru.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(used + timeout_s * 2 + 2)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ValueError, OSError):
        pass
