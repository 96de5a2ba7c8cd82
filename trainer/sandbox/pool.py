"""Parent side: the `Sandbox` pool that scores batches of untrusted programs.

One zygote process (preloaded numpy + common) forks confined workers; the parent talks to each
worker over its own socketpair with size-capped JSON frames and keeps exactly one program in
flight per worker (and a few more waiting in its socket). Each worker runs a program the
verifier admits itself and every other one in a fresh child process, and enforces its wall-clock
limit; the parent's own deadline (SIGKILL of the whole worker through a pidfd) is the
backstop. Workers that die or misbehave are replaced (asynchronously: the pool keeps running on the
others while the zygote forks), and every worker is recycled after `recycle_every` programs (a
worker that forks programs, after each one).
"""

from __future__ import annotations

import json
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence

from . import fresh_memory, protocol
from .batch import Batch, EncodedInputs
from .errors import SandboxError, ZygoteLost
from .isolation import remove_tree
from .result import ExecResult
from .sockets import recv_fds_nowait, select_readable

_PKG_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_STATUS_WAIT_S = 2.0
# What the zygote (and so every program) gets of the parent's environment: nothing secret
# (API tokens, credentials), only what the interpreter and its libraries need to load.
_ENV_PASSED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "LD_LIBRARY_PATH", "PYTHONHOME", "TZ")
_BLAS_THREADS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


@dataclass
class _Worker:
    sock: socket.socket
    pid: int
    pidfd: int
    reader: protocol.FrameReader
    ready: bool = False  # hello received
    born: float = 0.0
    sent_keys: set = field(default_factory=set)
    busy: int | None = None  # index of the program in flight
    fast: bool = False  # runs admitted programs itself (and answers "refused" for the others)
    closing: bool = False  # a send failed: nothing more goes to it
    queued: list = field(default_factory=list)  # [(index, token, bytes)] sent, to run after `busy`
    token: str = ""
    prev_token: str = ""
    started: float = 0.0
    deadline: float = 0.0
    done: int = 0
    last: int | None = None  # last program it finished (blamed for stray frames)
    dead: bool = False


class Sandbox:
    """Run model-written `transform` programs on ARC grids, isolated and in parallel.

    Programs get numpy arrays (`input_format="numpy"`, the BARC convention; `"list"` passes
    lists of lists) and must return one 2-D integer grid per input (numpy array or lists),
    sides 1..30, values 0..9. Their globals hold what this preamble would give:
    `import numpy as np; from typing import *; import common; from common import *`.
    `timeout_s` is the wall-clock budget of one program on all its inputs (including the
    determinism re-run on its smallest input); `memory_mb` is what a program may allocate on
    top of the preloaded interpreter; `disk_mb` is the size of each worker's private temp dir
    (a tmpfs, emptied after every program). Use as a context manager, or call `close()`.
    """

    def __init__(
        self,
        workers: int = 4,
        timeout_s: float = 1.0,
        memory_mb: int = 1024,
        common_module: str | os.PathLike | None = None,
        recycle_every: int = 1000,
        *,
        stdout_cap: int = 4096,
        check_determinism: bool = True,
        input_format: str = "numpy",
        kill_grace_s: float = 0.5,
        max_result_bytes: int = 1 << 20,
        disk_mb: int = 64,
        python: str = sys.executable,
        fast_path: bool = True,
    ):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        if memory_mb < 16:
            raise ValueError("memory_mb must be >= 16")
        if disk_mb < 1:
            raise ValueError("disk_mb must be >= 1")
        if input_format not in ("numpy", "list"):
            raise ValueError("input_format must be 'numpy' or 'list'")
        if common_module is not None and not os.path.isfile(common_module):
            raise SandboxError(f"common_module {str(common_module)!r} is not a file")
        self.n_workers = workers
        self.fast_path = bool(fast_path)
        # Fast-path workers run the programs the verifier admits; the others fork each program
        # from a worker that never ran one itself, so no earlier program shaped its state.
        self.n_by_kind = {True: workers, False: max(1, workers // 2)} if fast_path else {True: 0, False: workers}
        self.timeout_s = float(timeout_s)
        self.memory_mb = int(memory_mb)
        self.common_module = os.path.abspath(common_module) if common_module else None
        self.recycle_every = max(1, int(recycle_every))
        self.stdout_cap = stdout_cap
        self.check_determinism = check_determinism
        self.input_format = input_format
        self.kill_grace_s = kill_grace_s
        self.max_result_bytes = max_result_bytes
        self.disk_mb = int(disk_mb)
        self.python = python
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._ctrl: socket.socket | None = None
        self._root = ""
        self._workers: list[_Worker] = []
        self._pending: deque[tuple[socket.socket, bool]] = deque()  # (our end, fast?) not forked yet
        self._exits: dict[int, int] = {}
        self._dying: list[int] = []  # pidfds of killed workers
        self._protections: dict[str, Any] = {}
        self._sel: selectors.BaseSelector | None = None
        self._start_failures = 0
        self._ctrl_eof = False
        self._encoded = EncodedInputs()  # input grids already encoded, by content
        self.stats = {
            "spawned": 0,
            "killed_timeout": 0,
            "died": 0,
            "recycled": 0,
            "violations": 0,
            "worker_busy_s": 0.0,
            "worker_cpu_s": 0.0,
            "fast_path": 0,
        }

    # ----- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> "Sandbox":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def start(self) -> None:
        if self._proc is not None:
            return
        self._root = tempfile.mkdtemp(prefix="arcsb-")
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cfg = {
            "ctrl_fd": child_end.fileno(),
            "root": self._root,
            "timeout_s": self.timeout_s,
            "memory_mb": self.memory_mb,
            "common_module": self.common_module,
            "recycle_every": self.recycle_every,
            "stdout_cap": self.stdout_cap,
            "check_determinism": self.check_determinism,
            "input_format": self.input_format,
            "disk_mb": self.disk_mb,
            "fast_path_pool": self.fast_path,
            "landlock": os.environ.get("ARCCTL_SANDBOX_LANDLOCK") != "0",
            "namespaces": os.environ.get("ARCCTL_SANDBOX_NAMESPACES") != "0",
            "seccomp": os.environ.get("ARCCTL_SANDBOX_SECCOMP", ""),
        }
        env = {k: os.environ[k] for k in _ENV_PASSED if k in os.environ}
        env.update({k: "1" for k in _BLAS_THREADS})
        env["PYTHONPATH"] = os.pathsep.join(
            [_PKG_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        )
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["GLIBC_TUNABLES"] = fresh_memory.GLIBC_TUNABLES
        env["HOME"] = env["TMPDIR"] = self._root
        quiet = None if os.environ.get("ARCCTL_SANDBOX_DEBUG") else subprocess.DEVNULL
        self._proc = subprocess.Popen(
            [self.python, "-P", "-m", "trainer.sandbox.zygote", json.dumps(cfg)],
            pass_fds=[child_end.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=quiet,
            stderr=quiet,
            start_new_session=True,
            cwd=self._root,
            env=env,
        )
        child_end.close()
        self._ctrl = parent_end
        self._ctrl_eof = False
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._ctrl, selectors.EVENT_READ, None)
        try:
            msg = self._wait_ctrl(lambda m: "ready" in m or "fatal" in m, timeout=120)
            if "fatal" in msg:
                raise SandboxError(f"sandbox zygote failed to start: {msg['fatal']}")
            self._protections = msg["ready"]
            self._top_up()
            self._wait_ready(timeout=120)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for w in self._workers:
            self._kill(w)
        self._workers = []
        self._settle(timeout=5.0)
        for fd in self._dying:
            os.close(fd)
        self._dying = []
        for s, _ in self._pending:
            s.close()
        self._pending.clear()
        if self._sel is not None:
            self._sel.close()
            self._sel = None
        if self._ctrl is not None:
            try:
                self._ctrl.send(b"quit")
            except OSError:
                pass
            self._ctrl.close()
            self._ctrl = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
            self._proc = None
        if self._root:
            remove_tree(self._root)  # shutil.rmtree raised RecursionError on a program's deep tree
            self._root = ""

    def pids(self) -> set[int]:
        """Process ids the sandbox owns right now (zygote and live workers)."""
        out = {w.pid for w in self._workers if not w.dead}
        if self._proc is not None:
            out.add(self._proc.pid)
        return out

    @property
    def total_workers(self) -> int:
        """Worker processes at full strength: `workers` fast-path ones and half as many (at least
        one) that fork each program; just `workers` with the fast path off."""
        return sum(self.n_by_kind.values())

    def ready_workers(self) -> int:
        return sum(1 for w in self._workers if w.ready and not w.dead)

    def protections(self) -> dict[str, Any]:
        """Which protections are active (as reported by a live worker), by name."""
        self.start()
        return dict(self._protections)

    # ----- zygote control ------------------------------------------------------------------
    def _on_ctrl(self) -> list[dict]:
        """Read every pending control message; handle spawn/exit notices, return the others."""
        other = []
        if self._ctrl_eof:
            raise ZygoteLost("sandbox zygote exited unexpectedly")
        while True:
            try:
                data, fds = recv_fds_nowait(self._ctrl, 65536, 4)
            except (BlockingIOError, InterruptedError):
                return other
            if not data:
                self._ctrl_eof = True
                if other:  # e.g. its last words, {"fatal": ...}
                    return other
                raise ZygoteLost("sandbox zygote exited unexpectedly")
            msg = json.loads(data)
            if "exit" in msg:
                self._exits[msg["exit"]] = msg["status"]
            elif "spawned" in msg and self._pending:
                sock, fast = self._pending.popleft()
                sock.setblocking(False)
                w = _Worker(
                    sock=sock,
                    pid=msg["spawned"],
                    pidfd=fds[0] if fds else -1,
                    reader=protocol.FrameReader(self.max_result_bytes),
                    born=time.monotonic(),
                    fast=fast,
                )
                fds = fds[1:]
                self._workers.append(w)
                self._sel.register(sock, selectors.EVENT_READ, w)
                self.stats["spawned"] += 1
            else:
                other.append(msg)
            for fd in fds:
                os.close(fd)

    def _wait_ctrl(self, want, timeout: float) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if select_readable(self._ctrl, end - time.monotonic()):
                for msg in self._on_ctrl():
                    if want(msg):
                        return msg
        raise SandboxError("sandbox zygote did not answer in time")

    def _top_up(self) -> None:
        """Ask the zygote for workers of each kind until live + requested == wanted (non-blocking)."""
        for fast, wanted in self.n_by_kind.items():
            have = sum(w.fast == fast for w in self._workers) + sum(k == fast for _, k in self._pending)
            for _ in range(wanted - have):
                mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    socket.send_fds(self._ctrl, [b"spawn-fast" if fast else b"spawn"], [theirs.fileno()])
                except OSError as e:
                    mine.close()
                    raise ZygoteLost(f"sandbox zygote unreachable: {e}") from None
                finally:
                    theirs.close()
                self._pending.append((mine, fast))

    def _wait_ready(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while len([w for w in self._workers if w.ready]) < self.total_workers:
            if time.monotonic() > end:
                raise SandboxError("sandbox workers did not start in time")
            self._poll(min(1.0, end - time.monotonic()), None)

    def _poll(self, timeout: float, batch: "Batch | None") -> None:
        for key, _ in self._sel.select(max(0.0, timeout)):
            if key.data is None:
                self._on_ctrl()
            else:
                self._on_readable(key.data, batch)
        self._reap_dead(batch)

    def _on_readable(self, w: _Worker, batch: "Batch | None") -> None:
        if w.dead:
            return
        try:
            data = w.sock.recv(65536)  # a 1 MiB request would allocate (and map) 1 MiB each time
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._on_death(w, batch)
            return
        try:
            frames = w.reader.feed(data)
        except protocol.ProtocolError as e:
            self._violation(w, str(e), batch, blame_current=True)
            return
        for frame in frames:
            if w.dead:
                return
            if not w.ready:
                if type(frame) is dict and type(frame.get("fatal")) is str:
                    self._kill(w)
                    raise SandboxError(f"sandbox worker could not confine itself: {frame['fatal']}")
                if type(frame) is dict and type(frame.get("hello")) is dict and w.busy is None:
                    w.ready = True
                    self._start_failures = 0
                    self._protections = frame["hello"]
                    continue
                self._violation(w, "bad handshake", batch, blame_current=False)
                return
            if batch is None:
                self._violation(w, "message while idle", batch, blame_current=False)
                return
            batch.on_frame(w, frame)

    def _kill(self, w: _Worker) -> None:
        if w.dead:
            return
        w.dead = True
        if w.pidfd >= 0:
            try:
                signal.pidfd_send_signal(w.pidfd, signal.SIGKILL)
            except OSError:
                pass
            self._dying.append(w.pidfd)
            w.pidfd = -1
        elif w.pid not in self._exits:  # no pidfd (old kernel): plain kill while not yet reaped
            try:
                os.kill(w.pid, signal.SIGKILL)
            except OSError:
                pass
        if self._sel is not None:
            try:
                self._sel.unregister(w.sock)
            except (KeyError, ValueError):
                pass
        try:
            w.sock.close()
        except OSError:
            pass

    def _settle(self, timeout: float) -> None:
        """Wait until killed workers are really gone (their pidfds turn readable)."""
        end = time.monotonic() + timeout
        while self._dying:
            left = end - time.monotonic()
            r, _, _ = select.select(self._dying, [], [], max(0.0, left))
            for fd in r:
                os.close(fd)
                self._dying.remove(fd)
            if left <= 0:
                break

    def _on_death(self, w: _Worker, batch: "Batch | None") -> None:
        self.stats["died"] += 1
        i, elapsed = w.busy, time.monotonic() - w.started
        if batch is not None:
            batch.unqueue(w)
        self._kill(w)
        if not w.ready and w.busy is None and time.monotonic() - w.born < 1 and self._failed_starts():
            raise SandboxError("sandbox workers keep dying during start-up")
        if batch is not None and i is not None:
            batch.awaiting[w.pid] = (i, elapsed, time.monotonic() + _STATUS_WAIT_S)
            w.busy = None

    def _failed_starts(self) -> bool:
        """Count workers dying before their handshake; several in a row means a broken setup."""
        self._start_failures += 1
        return self._start_failures > 5

    def _violation(self, w: _Worker, why: str, batch: "Batch | None", blame_current: bool) -> None:
        """The worker spoke out of turn: only a program running in it can make it do that."""
        self.stats["violations"] += 1
        if batch is not None:
            batch.on_violation(w, why, blame_current)
        self._kill(w)

    def _reap_dead(self, batch: "Batch | None") -> None:
        if len(self._dying) > 8:
            self._settle(timeout=0.0)
        if any(w.dead for w in self._workers):
            self._workers = [w for w in self._workers if not w.dead]
            if len(self._exits) > 4096:
                self._exits.clear()
        if len(self._workers) + len(self._pending) < self.total_workers:
            self._top_up()

    # ----- running -------------------------------------------------------------------------
    def run_one(self, program: str, inputs: Sequence[Any]) -> ExecResult:
        return self.run_many([program], [inputs])[0]

    def run_many(self, programs: Sequence[str], inputs: Sequence[Sequence[Any]]) -> list[ExecResult]:
        """Run program i on inputs[i] (a list of grids); one result per program, in order."""
        if len(programs) != len(inputs):
            raise ValueError(f"{len(programs)} programs but {len(inputs)} input lists")
        with self._lock:
            if self._proc is not None and self._proc.poll() is not None:
                self.close()  # the zygote died since the last call: start afresh
            self.start()
            try:
                return Batch(self, list(programs), list(inputs)).run()
            finally:
                # Leave the pool as found: full strength, killed workers really gone. A failure
                # here must not lose the results: the next call starts the pool over instead.
                try:
                    self._reap_dead(None)
                    self._wait_ready(timeout=60)
                    self._settle(timeout=5.0)
                except SandboxError:
                    self.close()
