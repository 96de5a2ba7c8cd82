"""Worker: runs each program either itself (the fast path) or in a fresh child of its own.

Entered right after the zygote forks; never returns (always os._exit), so a failure here can never
fall back into the zygote's loop. The worker confines itself (rlimits, Landlock, the worker seccomp
filter), then for every task from the parent: if the verifier admits the program, runs it in this
process (`inline.InlineRunner`: nothing it can reach outlives it; the worker exits after it when
that cannot be vouched for); otherwise forks a child, which stacks the program seccomp filter (no
fork, no signals, no prctl) and a CPU limit, runs the program and writes its result to a pipe; the
worker enforces the wall-clock limit (SIGKILL), waits for the child, empties the temp dir,
answers the parent and exits: a forking worker serves one program, so no child inherits another
program's data from its heap. Nothing such a child does to its interpreter (modules, caches,
warnings filters, the harness's own frames) outlives it.
"""

from __future__ import annotations

import gc
import os
import random
import resource
import select
import signal
import socket
import time
import types

from . import isolation, landlock, protocol, seccomp
from .inline import InlineRunner, disarm, trusts_common
from .runner import ProgramTimeout, Runner, decode_input

MAX_CHILD_BYTES = 4 * 1024 * 1024  # a result is at most a few KB of grids, stdout and detail
# Without a tmpfs (no mount namespace) the worker measures the program's files this often; a
# program writes at most RLIMIT_FSIZE per file, so between two looks it can pass the cap by
# little, and it is killed at the first look over it. Many empty files count too (inodes).
DISK_POLL_S = 0.02
DISK_MAX_ENTRIES = 4096
INPUT_CACHE = 64  # input sets kept decoded (the parent sends each set once)


def worker_main(
    sock_fd: int,
    workdir: str,
    cfg: dict,
    bpf: dict,
    ruleset_fd: int | None,
    common: types.ModuleType,
    base_protections: dict,
) -> None:
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
    # Blocked, so that a child's exit can be awaited with a timeout (sigtimedwait).
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
    isolation.null_stdio()
    keep = {sock_fd} | ({ruleset_fd} if ruleset_fd is not None else set())
    isolation.close_fds_except(keep)
    os.chdir(workdir)
    random.setstate(cfg["random_state"])
    sock = socket.socket(fileno=sock_fd)
    prot = dict(base_protections)
    prot["rlimits"] = isolation.apply_rlimits(cfg["memory_mb"], cfg["vm_base"], nofile=64)
    # Fail closed: the zygote chose the filters assuming these layers work, so a worker that
    # cannot apply one must not run programs; it tells the parent why and exits.
    zygote = os.getppid()
    try:
        # Before Landlock and seccomp (the worker filter refuses the setuid family).
        why = isolation.drop_privileges(cfg.get("unprivileged"), workdir)
        prot["capabilities"] = "none (all dropped, bounding set included)"
        if why:
            prot["uid"] = False
            prot["uid_missing"] = f"started by root; {why}: programs run as uid 0 without capabilities"
        # A change of uid clears the parent-death signal: set again, then make sure the zygote
        # did not die in between (then nobody waits for this worker).
        isolation.die_with_parent()
        if os.getppid() != zygote:
            os._exit(0)
        if ruleset_fd is not None:
            landlock.restrict_self(ruleset_fd)
            os.close(ruleset_fd)
        if bpf.get("worker"):
            seccomp.load_filter(bpf["worker"])
        runner = Runner(common, cfg["stdout_cap"], cfg["input_format"])
        program_filter = seccomp.Prepared(bpf["program"]) if bpf.get("program") else None
        _probe_child(program_filter, cfg)
        fast = None
        if cfg.get("fast_path"):
            fast = InlineRunner(
                runner, trusts_common(cfg, common), cfg["timeout_s"], cfg["memory_mb"], bool(cfg.get("hard_stop"))
            )
    except BaseException as e:  # noqa: BLE001
        protocol.send(sock, {"fatal": f"{type(e).__name__}: {e}"[:500]})
        raise
    prot["process_per_program"] = (
        "each program the verifier refuses runs in a fresh child of a worker that never runs a program "
        "itself; the others in a fast-path worker"
        if cfg.get("fast_path_pool")
        else "each program runs in a fresh child"
    )
    prot["audit_hook"] = "unsafe-operation classification"
    gc.collect()
    gc.freeze()  # the children then do not copy these pages just because the collector walks them
    protocol.send(sock, {"hello": prot, "pid": os.getpid()})
    reader = protocol.BlockingReader(sock, protocol.MAX_TASK_BYTES)
    inputs: dict[str, list] = {}
    mark = time.process_time()  # this worker's CPU per program: from one reply to the next
    while True:
        try:
            msg = reader.next()
        except EOFError:
            return
        if msg.get("quit"):
            return
        payload = msg.get("inputs")
        if payload is not None:
            if len(inputs) >= INPUT_CACHE:
                inputs.clear()
            inputs[msg["key"]] = [decode_input(g) for g in payload]
        if fast is not None:  # a fast-path worker forks nothing: the parent sends refused programs
            # to a worker that has never run a program itself. Fast-path programs write no files.
            try:
                give_up = _answer_timeout_and_exit(sock, msg["t"], cfg["timeout_s"])
                res = fast.run(msg["src"], inputs[msg["key"]], cfg["check_determinism"], give_up) or {"refused": True}
            except ProgramTimeout:  # the timer fired again inside the fast path's own clean-up
                disarm()
                res = {"outputs": None, "error": "timeout", "detail": "wall-clock limit", "recycle": True, "fast": True}
        else:
            res = _run_child(runner, msg["src"], inputs[msg["key"]], cfg, program_filter, sock, workdir)
            _wipe(workdir)
            # One program per forking worker: what this process decoded and relayed (the program's
            # source, its result) stays in its freed heap, which the next child would inherit and
            # could read (np.empty): another program's answer. A fresh worker never held any.
            res["recycle"] = True
        now = time.process_time()
        res["cpu"] = res.get("cpu", 0.0) + now - mark  # + the program's own process, if any
        mark = now
        res["t"] = msg["t"]
        protocol.send(sock, res)
        if res.get("recycle"):
            return  # the parent replaces this worker (after a fast-path program it cannot vouch for)


def _answer_timeout_and_exit(sock: socket.socket, token: str, timeout_s: float):
    """For the fast path's timer: the reply for a program that outlived its limit, then the exit
    (the parent replaces the worker, as after any timeout)."""

    def give_up() -> None:
        try:
            disarm()
        except BaseException:  # noqa: BLE001 - in the program's time (its audit hook is on): answer anyway
            pass
        try:
            detail = f"killed after {timeout_s:g}s wall clock (it kept catching the timer)"
            reply = {"outputs": None, "error": "timeout", "detail": detail, "stdout": "", "recycle": True, "fast": True}
            protocol.send(sock, dict(reply, t=token))
        finally:
            os._exit(0)

    return give_up


def _fork(cfg: dict) -> int:
    return isolation.fork_bare() if cfg.get("bare_fork") else os.fork()


def _probe_child(program_filter: seccomp.Prepared | None, cfg: dict) -> None:
    """Fork one child that loads the program filter: a broken filter is a start-up error."""
    r, w = os.pipe()
    pid = _fork(cfg)
    if pid == 0:
        try:
            if program_filter:
                program_filter.load()
            os.write(w, b"ok")
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 2)
    os.close(r)
    os.waitpid(pid, 0)
    if got != b"ok":
        raise OSError("the program seccomp filter could not be loaded (PR_SET_SECCOMP)")


def _run_child(
    runner: Runner,
    src: str,
    inputs: list,
    cfg: dict,
    program_filter: seccomp.Prepared | None,
    sock: socket.socket,
    workdir: str,
) -> dict:
    timeout_s = cfg["timeout_s"]
    r, w = os.pipe()
    t0 = time.monotonic()
    me = os.getpid()
    pid = _fork(cfg)
    if pid == 0:  # the child: never returns
        _child(me, runner, src, inputs, cfg, program_filter, sock, r, w)
    os.close(w)
    over_disk = (lambda: _disk_over(workdir, cfg["disk_mb"])) if cfg.get("disk_watch") else None
    data, timed_out = _collect(r, pid, t0 + timeout_s, over_disk)
    os.close(r)
    if type(data) is str:  # killed for its files: why
        _reap(pid, t0 + timeout_s)
        return {"outputs": None, "error": "unsafe", "detail": data, "cpu": _child_cpu()}
    # The pipe is closed; the child must now be gone too (one that closed it early and lingers
    # is killed at the deadline, never left running next to the next program).
    status, lingered = _reap(pid, t0 + timeout_s)
    timed_out = timed_out or lingered
    cpu = _child_cpu()  # the program's own process (the caller adds this worker's share)
    if timed_out:
        return {"outputs": None, "error": "timeout", "detail": f"killed after {timeout_s:g}s wall clock", "cpu": cpu}
    res = _parse_child(data)
    if res is None:  # no result: the child died (or ended itself) before writing one
        res = _status_result(status, data)
    res["cpu"] = cpu
    return res


def _reap(pid: int, deadline: float) -> tuple[int, bool]:
    """Wait for the child until the deadline, then kill it; (wait status, killed)."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status, False
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            return os.waitpid(pid, 0)[1], True
        signal.sigtimedwait([signal.SIGCHLD], min(left, 0.05))


def _child(worker, runner, src, inputs, cfg, program_filter, sock, r, w) -> None:
    code = 0
    try:
        isolation.die_with_parent()  # not inherited across fork: set again
        if os.getppid() != worker:  # the worker died before that took effect
            os._exit(0)
        sock.close()
        os.close(r)
        cpu = int(cfg["timeout_s"] * 2) + 1  # CPU used by this fresh process starts at 0
        hard = resource.getrlimit(resource.RLIMIT_CPU)[1]  # raising it would need a capability
        cpu = cpu if hard == resource.RLIM_INFINITY else min(cpu, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # no-op for root; seccomp refuses fork
        if program_filter:  # no_new_privs is inherited from the worker
            program_filter.load()
        res = runner.run(src, inputs, cfg["check_determinism"])
        data = protocol.encode(res)
        view = memoryview(data)
        while view:
            view = view[os.write(w, view) :]
    except BaseException:  # noqa: BLE001 - no result written: the worker reports the exit
        code = 70
    os._exit(code)


def _collect(r: int, pid: int, deadline: float, over_disk=None) -> tuple[bytes | str, bool]:
    """Everything the child writes until it closes the pipe; SIGKILL at the deadline, or as soon
    as `over_disk()` says its files passed the cap (then what it said, a str, instead)."""
    chunks, size = [], 0
    poller = select.poll()
    poller.register(r, select.POLLIN)
    next_look = time.monotonic()
    while True:
        now = time.monotonic()
        if over_disk is not None and now >= next_look:
            why = over_disk()
            if why:
                os.kill(pid, signal.SIGKILL)
                return why, False
            next_look = now + DISK_POLL_S
        left = deadline - now
        wait = left if over_disk is None else min(left, DISK_POLL_S)
        if left <= 0 or not poller.poll(max(wait, 0) * 1000):
            if deadline - time.monotonic() > 0:
                continue
            os.kill(pid, signal.SIGKILL)
            return b"", True
        chunk = os.read(r, 65536)
        if not chunk:
            # one last look: a program that wrote past the cap and returned between two looks
            # (40 MB take tens of ms) passed as a normal one, depending on timing
            why = over_disk() if over_disk is not None else ""
            return (why, False) if why else (b"".join(chunks), False)
        size += len(chunk)
        if size > MAX_CHILD_BYTES:
            os.kill(pid, signal.SIGKILL)
            return b"\xff", False  # not a frame: reported as tampering
        chunks.append(chunk)


def _parse_child(data: bytes) -> dict | None:
    """Exactly one well-formed frame (a program writing into the pipe itself is caught here)."""
    if not data:
        return None
    tampered = {"outputs": None, "error": "unsafe", "detail": "tampered with the result channel"}
    reader = protocol.FrameReader(MAX_CHILD_BYTES)
    try:
        frames = reader.feed(data)
    except protocol.ProtocolError:
        return tampered
    if len(frames) != 1 or reader.buf or type(frames[0]) is not dict:
        return tampered
    if frames[0].get("error") == "timeout":
        # Only this worker knows a timeout (it kills the child, or the kernel does at the CPU
        # limit); the child's harness never reports one, so a frame saying so was forged by the
        # program (it owns its process: it can replace the harness's classification).
        return tampered
    f = frames[0]
    return {k: f.get(k) for k in ("outputs", "error", "detail", "stdout", "dur")}


def _status_result(status: int, data: bytes) -> dict:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return {"outputs": None, "error": "timeout", "detail": "CPU time limit"}
        if sig == signal.SIGKILL:
            return {"outputs": None, "error": "memory", "detail": "killed by SIGKILL (out of memory)"}
        if sig == signal.SIGSYS:
            return {"outputs": None, "error": "unsafe", "detail": "killed by the seccomp filter"}
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return {
            "outputs": None,
            "error": "exception",
            "detail": f"program process crashed with {name}" + (" (stack overflow?)" if sig == signal.SIGSEGV else ""),
        }
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    return {"outputs": None, "error": "exception", "detail": f"program ended its process (exit code {code})"}


_cpu_seen = [0.0]


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = ru.ru_utime + ru.ru_stime
    used, _cpu_seen[0] = total - _cpu_seen[0], total
    return used


def _disk_over(workdir: str, limit_mb: int) -> str:
    """Why the files under `workdir` break the caps ('' while they do not): more than `limit_mb`
    (blocks allocated, so a sparse file counts what it really holds), or more than
    DISK_MAX_ENTRIES entries, or a directory that cannot be measured."""
    used, entries, stack = 0, 0, [workdir]
    while stack:
        try:
            it = os.scandir(stack.pop())
        except FileNotFoundError:  # removed since it was listed
            continue
        except OSError:
            # A directory made without read permission (mkdir mode 0o300: the program can still
            # create files in it, nobody can list them; chmod is refused) hid everything under
            # it: the whole measure used to stop there and say "under the cap", every time.
            return "hid its files from the disk cap (a directory that cannot be listed)"
        with it:
            for e in it:
                entries += 1
                try:
                    used += e.stat(follow_symlinks=False).st_blocks * 512
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                except FileNotFoundError:  # one file removed while we looked: the rest still counts
                    continue
                except OSError:
                    return "hid its files from the disk cap (a directory that cannot be searched)"
                if entries > DISK_MAX_ENTRIES or used > limit_mb * 2**20:
                    return f"wrote more than {limit_mb} MB of files"
    return ""


def _wipe(workdir: str) -> bool:
    """Remove whatever the program left in the temp dir; False if that failed."""
    try:
        return isolation.remove_tree(workdir, keep_top=True)
    except BaseException:  # noqa: BLE001 - the worker exits after it either way
        return False
