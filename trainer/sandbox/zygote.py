"""Zygote: a small Python process that preloads numpy and `common` once, then forks workers.

Started by the parent with `python -P -m trainer.sandbox.zygote CONFIG_JSON`, it talks over a
SOCK_SEQPACKET control socket:
  parent -> zygote  b"spawn" or b"spawn-fast" with one fd (the worker's end of a fresh
                    socketpair): a worker that forks every program, or one that runs the
                    programs the verifier admits itself and refuses the others
  zygote -> parent  {"spawned": pid, "dir": ...} with one fd (a pidfd of the new worker),
                    {"exit": pid, "status": wait status} when a worker ends,
                    {"ready": protections} once at start, {"fatal": message} on a setup failure.
The zygote itself gets the private network and mount namespaces (inherited by every worker) and
the single-threaded BLAS settings before numpy is imported; the parent starts it with a minimal
environment (no tokens: programs can read neither os.environ nor /proc/self/environ secrets). Each
worker's temp dir is a private tmpfs of `disk_mb` where a mount namespace is available. The zygote
exits, killing its workers, when the control socket closes (parent gone).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import random
import select
import signal
import socket
import sys
import tempfile
import types

from . import isolation

for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ[_var] = "1"

PRELOAD = (
    "math",
    "random",
    "itertools",
    "collections",
    "functools",
    "copy",
    "re",
    "heapq",
    "string",
    "dataclasses",
    "enum",
    "operator",
    "statistics",
    "fractions",
    "bisect",
    "typing",
    "numpy",
    "numpy.random",
    "numpy.linalg",
    "numpy.fft",
    "numpy.ma",
    "numpy.polynomial",
    "numpy.lib.stride_tricks",
    "traceback",
    "linecache",
    "warnings",
)


def load_common(path: str | None) -> tuple[types.ModuleType, str]:
    """The helper library as module `common`: a user file, trainer.program_library, or an empty module."""
    if path:
        spec = importlib.util.spec_from_file_location("common", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"common_module {path!r} is not a python file")
        mod = importlib.util.module_from_spec(spec)
        sys.modules["common"] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException as e:  # noqa: BLE001 - reported to the user, naming the file
            raise ImportError(f"common_module {path}: {type(e).__name__}: {e}") from None
        return mod, path
    try:
        mod = importlib.import_module("trainer.program_library")
        where = getattr(mod, "__file__", "trainer.program_library")
    except ImportError:
        mod, where = types.ModuleType("common", "empty fallback: trainer.program_library is missing"), ""
    sys.modules["common"] = mod
    return mod, where


def read_paths(common_file: str) -> list[str]:
    """What programs may read: the interpreter, its libraries, site-packages, the helper file."""
    import numpy

    home = os.path.realpath(os.path.expanduser("~"))
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    cands = set(prefixes) | {
        os.path.dirname(os.path.dirname(numpy.__file__)),
        os.path.dirname(os.path.dirname(__file__)),  # the trainer package
        "/usr/lib",
        "/usr/lib64",
        "/lib",
        "/lib64",
        "/usr/share/zoneinfo",
        "/dev/null",
        "/dev/urandom",
    }
    # Library directories on sys.path, but not e.g. a project root that PYTHONPATH points to.
    cands.update(
        p
        for p in sys.path
        if p and ("-packages" in p or any(os.path.realpath(p).startswith(os.path.realpath(x) + "/") for x in prefixes))
    )
    if common_file:
        cands.add(os.path.dirname(os.path.abspath(common_file)))
    out = []
    for p in cands:
        rp = os.path.realpath(p)
        # Never an ancestor of the home directory (or / itself): that would expose ~/.ssh.
        if not os.path.exists(rp) or rp == "/" or home == rp or home.startswith(rp.rstrip("/") + "/"):
            continue
        if rp in ("/etc", "/root", "/home", "/tmp", "/var", "/proc"):
            continue
        out.append(rp)
    return sorted(set(out))


def main() -> None:
    cfg = json.loads(sys.argv[1])
    ctrl = socket.socket(fileno=cfg["ctrl_fd"])
    root = cfg["root"]
    os.chdir(root)
    prot: dict = {}
    # ARCCTL_SANDBOX_NAMESPACES=0 plays a host without unprivileged namespaces (as some container
    # runtimes and distributions are), so the fallback below is tested on any machine
    ns = isolation.enter_namespaces() if cfg.get("namespaces", True) else {"netns": "", "mountns": ""}
    prot["netns"] = ns["netns"] or False
    tmpfs = bool(ns["mountns"])
    try:
        for name in PRELOAD:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
        common, common_file = load_common(cfg.get("common_module"))
        from . import fresh_memory

        why = fresh_memory.use_raw_allocator_for_numpy() or fresh_memory.check()
        prot["fresh_memory"] = (
            "new arrays never hold freed ones' data (numpy without its buffer cache, glibc perturb)"
            if not why
            else False
        )
        if why:
            prot["fresh_memory_missing"] = why
        prot["common"] = common_file or "empty module (trainer.program_library not importable)"
        from . import landlock
        from .worker import worker_main

        if cfg.get("fast_path_pool"):
            from . import hardstop, inline

            inline.warm(common, inline.trusts_common(cfg, common))
            why = hardstop.available()
            cfg["hard_stop"] = not why
            prot["hard_stop"] = (
                f"a fast-path program still running {inline.HARD_GRACE_S:g}s past its limit (C code that never "
                "returns to Python) ends its worker there (kernel timer)"
                if not why
                else False
            )
            if why:
                prot["hard_stop_missing"] = f"{why}: such a program holds its worker until the parent's deadline"

        paths = read_paths(common_file)
        cfg["unprivileged"] = _unprivileged(root, prot, tmpfs)
        # landlock=False / seccomp="builtin" force the degraded paths (used by the tests; also an
        # escape hatch on kernels where Landlock misbehaves).
        use_landlock = landlock.abi_version() >= 1 and cfg.get("landlock", True)
        prot["landlock"] = False
        if use_landlock:
            fd, desc = landlock.create_ruleset(paths, [root])
            if fd is None:
                use_landlock = False
            else:
                os.close(fd)
                prot["landlock"] = desc
        bpf, desc = compile_filters(confine_files=not use_landlock, builtin=cfg.get("seccomp") == "builtin")
        prot["seccomp"] = desc if bpf else False
        if not bpf:
            prot["seccomp_missing"] = desc
        cfg["vm_base"] = isolation.vm_size_bytes()  # what a worker starts from (read before /proc goes)
        # Workers fork each program's process without CPython's fork hooks, which is sound only
        # in a single-threaded process (a library that started a thread would make it unsound).
        cfg["bare_fork"] = isolation.thread_count() == 1
        # os.fork re-seeds `random` in each worker; workers restore this state, so every program's
        # process starts from the same one, whichever worker serves it.
        cfg["random_state"] = random.getstate()
        prot["proc"] = "hidden (empty tmpfs over /proc)" if tmpfs and isolation.hide_proc() else "visible"
        cfg["disk_watch"] = not tmpfs
        prot["disk"] = (
            f"private tmpfs of {cfg['disk_mb']} MB per worker, emptied after every program"
            if tmpfs
            else f"temp dir emptied after every program; no mount namespace, so a program whose files "
            f"pass {cfg['disk_mb']} MB is killed (its worker measures them while it runs)"
        )
    except BaseException as e:  # noqa: BLE001
        ctrl.send(json.dumps({"fatal": f"{type(e).__name__}: {e}"}).encode())
        os._exit(1)
    ctrl.send(json.dumps({"ready": prot}).encode())
    # Everything imported so far is shared with the workers copy-on-write; keeping it out of the
    # collector's sight spares each worker from copying those pages when the GC walks them.
    import gc

    gc.collect()
    gc.freeze()

    children: dict[int, str] = {}
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: _shutdown(children, root))

    while True:
        try:
            ready, _, _ = select.select([ctrl, wake_r], [], [], 5.0)
        except InterruptedError:
            ready = []
        if wake_r in ready:
            os.read(wake_r, 4096)
        _reap(ctrl, children)
        if ctrl not in ready:
            continue
        try:
            msg, fds, _, _ = socket.recv_fds(ctrl, 1024, 4)
        except OSError:
            msg, fds = b"", []
        if not msg or msg == b"quit":
            _shutdown(children, root)
        if msg not in (b"spawn", b"spawn-fast") or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            continue
        wfd = fds[0]
        workdir = tempfile.mkdtemp(prefix="w", dir=root)
        if tmpfs and isolation.mount_tmpfs(workdir, cfg["disk_mb"]):
            ctrl.send(json.dumps({"fatal": f"cannot mount a tmpfs on {workdir}"}).encode())
            os._exit(1)
        ruleset = None
        if use_landlock:
            ruleset, _ = landlock.create_ruleset(paths, [workdir])
        pid = os.fork()
        if pid == 0:
            ctrl.close()
            os.close(wake_r)
            os.close(wake_w)
            worker_main(wfd, workdir, dict(cfg, fast_path=msg == b"spawn-fast"), bpf, ruleset, common, prot)
        os.close(wfd)
        if ruleset is not None:
            os.close(ruleset)
        children[pid] = workdir
        try:  # a pidfd lets the parent kill this exact process, immune to pid reuse (Linux >= 5.3)
            pidfds = [os.pidfd_open(pid)]
        except (OSError, AttributeError):
            pidfds = []
        try:
            socket.send_fds(ctrl, [json.dumps({"spawned": pid, "dir": workdir}).encode()], pidfds)
        finally:
            for fd in pidfds:
                os.close(fd)


def _unprivileged(root: str, prot: dict, mountns: bool) -> tuple[int, int] | None:
    """The uid/gid that workers switch to when started by root (None: they keep uid 0), checked
    here once: it must reach everything a program may import after the switch (the Python
    installation and site-packages) and, by absolute path (TMPDIR), its temp dir under `root`."""
    uid, gid = os.geteuid(), os.getegid()
    if uid != 0:
        prot["uid"] = f"{uid}:{gid} (the sandbox's own user: not root)"
        return None
    os.chmod(root, 0o711)  # searchable, not listable: each worker's dir in it stays 0700
    from . import ids

    free = ids.unused_id()
    target = (free, free) if free is not None else (ids.NOBODY, ids.NOBODY)
    need = read_paths("")
    covered = isolation.expose_to(*target, need + [root]) if mountns else []
    why = isolation.unprivileged_cannot_reach(*target, need, [root])
    if why:
        prot["uid"] = False
        prot["uid_missing"] = f"started by root; {why}: programs run as uid 0 without capabilities"
        return None
    prot["uid"] = f"{target[0]}:{target[1]}, no supplementary groups (started by root)"
    prot["uid"] += "; no account on this host has it" if free is not None else "; nobody's: every unused id is taken"
    if covered:
        prot["uid"] += f"; {', '.join(covered)} hidden but for the Python installation"
    return target


def compile_filters(confine_files: bool, builtin: bool) -> tuple[dict, str]:
    """The worker and program seccomp filters (libseccomp, else the built-in BPF); ({}, why) if neither."""
    from . import bpf as builtin_bpf
    from . import seccomp

    out, desc = {}, "libseccomp not used (seccomp=builtin)"
    for stage in ("worker", "program"):
        prog = None
        if not builtin:
            prog, desc = seccomp.compile_filter(confine_files, stage)
        if prog is None:
            try:
                prog, desc2 = builtin_bpf.build_filter(confine_files, stage)
                desc = desc2 if prog else f"{desc}; {desc2}"
            except (ValueError, KeyError) as e:
                desc = f"{desc}; built-in filter failed: {e}"
        if prog is None:
            return {}, desc
        out[stage] = prog
    return out, desc


def _reap(ctrl: socket.socket, children: dict[int, str]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        workdir = children.pop(pid, None)
        if workdir:
            _remove(workdir)
        try:
            ctrl.send(json.dumps({"exit": pid, "status": status}).encode())
        except OSError:
            pass


def _remove(workdir: str) -> None:
    isolation.unmount(workdir)  # a no-op where it is not a tmpfs
    try:
        isolation.remove_tree(workdir)  # however deep the program's tree (without a tmpfs)
    except BaseException:  # noqa: BLE001 - never out of the zygote's loop
        pass


def _shutdown(children: dict[int, str], root: str) -> None:
    for pid in list(children):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in list(children):
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    isolation.remove_tree(root)
    os._exit(0)


if __name__ == "__main__":
    main()
