"""One `run_many` call: queue, dispatch, results, timeouts, deaths and requeues.

Kept apart from the pool (`pool.Sandbox`), which owns the processes; a batch only decides what
runs where and turns what comes back (or does not) into one `ExecResult` per program.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from . import hardstop, protocol
from .errors import SandboxError, ZygoteLost
from .result import ERROR_KINDS, ExecResult, decode_grid

if TYPE_CHECKING:
    from .pool import Sandbox, _Worker

_MAX_TASK_MB = protocol.MAX_TASK_BYTES // 2**20
# A program's source as JSON may take up to this much of a task frame (the rest: its input grids,
# and a few fields); JSON is at most 12 bytes per character, so a shorter source is never measured.
_MAX_INPUTS_JSON = 8 * 2**20  # ~9000 grids of 30x30: an ARC task has a handful
_MAX_SOURCE_JSON = protocol.MAX_TASK_BYTES - _MAX_INPUTS_JSON - 1024
_SHORT_ENOUGH = _MAX_SOURCE_JSON // 12


# Programs sent to a busy worker, to start as soon as it answers (so it does not wait for this
# process to be scheduled), and their total size: the worker reads them only when done, so they
# must fit in the socket's buffer (~200 KB on Linux).
_QUEUE_DEPTH = 4
_QUEUED_MAX = 64 * 1024
# A task frame longer than this goes to an idle worker (it is reading its socket) in a blocking send:
# a non-blocking one sent what the socket buffer (~200 KB) took and failed, the worker was dropped
# with half a frame and the program sent again to the next one, until one drained it in time (a
# 4 MB program: 200 s and 4000 workers). A worker that does not take it within the timeout is lost.
_BLOCKING_SEND_OVER = 32 * 1024
_SEND_TIMEOUT_S = 30.0


class Batch:
    """State of one run_many call: the queue, in-flight programs and results."""

    def __init__(self, sb: Sandbox, programs: list[str], inputs: list):
        self.sb = sb
        self.programs = programs
        self.n_inputs = [len(x) for x in inputs]
        self.results: list[ExecResult | None] = [None] * len(programs)
        self.queue = deque(range(len(programs)))
        self.requeued: set[int] = set()
        self.restarts = 0
        self.awaiting: dict[int, tuple[int, float, float]] = {}  # pid -> (program, elapsed, until)
        self.keys: list[str] = []
        self.tokens: list[str] = []  # unused task tokens, drawn from the OS in bulk
        self.payloads: dict[str, str] = {}  # key -> JSON text of the encoded input grids
        by_id: dict[int, str] = {}
        for n, inp in enumerate(inputs):
            key = by_id.get(id(inp))
            if key is None:
                enc = sb._encoded.encode
                blob = json.dumps([enc(g, n, k) for k, g in enumerate(inp)], separators=(",", ":"))
                if len(blob) > _MAX_INPUTS_JSON:  # the worker would die reading the task
                    mb = _MAX_INPUTS_JSON // 2**20
                    raise ValueError(f"inputs[{n}] has {len(inp)} grids: more than the {mb} MB a task may carry")
                key = hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()
                self.payloads[key] = blob
                by_id[id(inp)] = key
            self.keys.append(key)
        # Identical completions of the same task are common in GRPO (and more so as a run
        # collapses): run each distinct (program, inputs) pair once and share the result.
        first: dict[tuple[str, str], int] = {}
        self.copy_of: dict[int, int] = {}
        unique = deque()
        for i, (src, key) in enumerate(zip(programs, self.keys)):
            if type(src) is not str:
                self.results[i] = ExecResult(None, "parse", f"program is {type(src).__name__}, not source text")
                continue
            if len(src) > _SHORT_ENOUGH and len(json.dumps(src)) > _MAX_SOURCE_JSON:
                why = f"program is {len(src)} characters: its task would pass the workers' {_MAX_TASK_MB} MB limit"
                self.results[i] = ExecResult(None, "parse", why)
                continue
            j = first.setdefault((src, key), i)
            if j == i:
                unique.append(i)
            else:
                self.copy_of[i] = j
        # Fast-path workers take programs from `queue`; those they refuse (and every program when
        # the fast path is off) go to `forked`, served by workers that fork each program.
        self.forked: deque[int] = deque()
        self.refused: set[int] = set()
        if not sb.fast_path:
            unique, self.forked = deque(), unique
            self.refused = set(unique)
        self.queue = unique

    def run(self) -> list[ExecResult]:
        sb = self.sb
        while self.queue or self.forked or self.awaiting or any(w.busy is not None for w in sb._workers):
            for w in sb._workers:
                # One program running and one waiting in the worker's socket: the worker starts
                # the next as soon as it has answered, without waiting for this process.
                todo = self._queue_of(w)
                while w.ready and not w.dead and not w.closing and todo and _has_room(w):
                    if not self._dispatch(w, todo.popleft()):
                        break
            now = time.monotonic()
            deadlines = [w.deadline for w in sb._workers if w.busy is not None]
            deadlines += [until for (_, _, until) in self.awaiting.values()]
            timeout = min(deadlines) - now if deadlines else 1.0
            try:
                sb._poll(min(timeout, 1.0), self)
            except ZygoteLost:
                self._restart()
                continue
            now = time.monotonic()
            for w in list(sb._workers):
                if w.busy is not None and not w.dead and now > w.deadline:
                    self._finish(
                        w,
                        ExecResult(None, "timeout", f"killed after {now - w.started:.2f}s wall clock", now - w.started),
                    )
                    sb.stats["killed_timeout"] += 1
                    self.unqueue(w)
                    sb._kill(w)
            for pid, (i, elapsed, until) in list(self.awaiting.items()):
                if pid in sb._exits or now > until:
                    self.results[i] = _death_result(sb._exits.pop(pid, None), elapsed)
                    del self.awaiting[pid]
        for i, j in self.copy_of.items():
            r = self.results[j]
            if r is not None:
                self.results[i] = ExecResult(
                    None if r.outputs is None else [[list(row) for row in g] for g in r.outputs],
                    r.error,
                    r.detail,
                    r.duration_s,
                    r.stdout,
                )
        return [r if r is not None else ExecResult(None, "exception", "internal: no result") for r in self.results]

    def _restart(self) -> None:
        """Zygote gone: start a fresh sandbox and run the in-flight programs again."""
        self.restarts += 1
        if self.restarts > 3:
            raise SandboxError("sandbox zygote keeps dying; giving up")
        lost = [w.busy for w in self.sb._workers if w.busy is not None]
        lost += [i for (i, _, _) in self.awaiting.values()]
        for w in self.sb._workers:
            self.unqueue(w)
        self.awaiting.clear()
        self.sb.close()
        self.sb.start()
        for i in lost:
            self._requeue(i)

    def _dispatch(self, w: _Worker, i: int) -> bool:
        """Send program i to the worker: to run now if it is idle, else to wait behind the ones it
        has (see _QUEUED_MAX). False if not sent (it stays at the head of the queue)."""
        key = self.keys[i]
        token = self._token()
        # Built by hand so the (pre-encoded) input grids are not serialised again per program.
        head = f'{{"t":"{token}","key":"{key}","src":{json.dumps(self.programs[i])}'
        new_key = key not in w.sent_keys
        if new_key:
            head += f',"inputs":{self.payloads[key]}'
        queued = w.busy is not None
        if queued and len(head) + sum(n for _, _, n in w.queued) > _QUEUED_MAX:
            self._queue_of(w).appendleft(i)
            return False
        if new_key:
            if len(w.sent_keys) >= 64:  # the worker keeps at most 64 input sets, same policy
                w.sent_keys.clear()
            w.sent_keys.add(key)
        if queued:
            w.queued.append((i, token, len(head)))
        else:
            self._start(w, i, token)
        data = protocol.frame_bytes((head + "}").encode())
        try:
            if queued or len(data) <= _BLOCKING_SEND_OVER:
                w.sock.sendall(data)
            else:
                _send_blocking(w.sock, data)
        except OSError:
            # Gone, e.g. it answered and exited to be recycled: send it nothing more. Its replies
            # to what it did get are still read; then its end of the socket reports its exit.
            w.closing = True
            if queued:
                w.queued.pop()  # this one never arrived
            else:
                w.busy = None
            if len(data) > _BLOCKING_SEND_OVER:
                self._requeue(i)  # twice at most: a worker that would not take it is not a race
            else:
                self._queue_of(w).appendleft(i)
            self._retire_if_done(w)
            return False
        return True

    def _token(self) -> str:
        """An unguessable token for one task: 64 drawn at a time (one system call, not one each)."""
        if not self.tokens:
            raw = secrets.token_hex(8 * 64)
            self.tokens = [raw[k : k + 16] for k in range(0, len(raw), 16)]
        return self.tokens.pop()

    def _retire_if_done(self, w: _Worker) -> None:
        """A worker that can no longer be sent to goes once it owes no reply."""
        if w.closing and w.busy is None and not w.queued and not w.dead:
            self.sb._kill(w)

    def _start(self, w: _Worker, i: int, token: str) -> None:
        """Program i is now the one the worker runs (sent just now, or waiting behind another)."""
        w.busy, w.prev_token, w.token = i, w.token, token
        w.started = time.monotonic()
        # The worker kills the program's process at timeout_s; this is the backstop for the
        # worker itself (fork, reaping and the reply take a few ms; more on a loaded machine).
        w.deadline = w.started + self.sb.timeout_s + self.sb.kill_grace_s + 1.0

    def unqueue(self, w: _Worker) -> None:
        """Programs sent to a worker that is going away but not started there: back to the queue."""
        while w.queued:
            self._queue_of(w).appendleft(w.queued.pop()[0])

    def _queue_of(self, w: _Worker) -> deque:
        return self.queue if w.fast else self.forked

    def on_frame(self, w: _Worker, frame: Any) -> None:
        if type(frame) is not dict or w.busy is None or frame.get("t") != w.token:
            # A frame carrying the previous task's token is the harness's own late reply after
            # a forged one: blame the previous program. Anything else comes from the current one.
            stale = type(frame) is dict and w.prev_token and frame.get("t") == w.prev_token
            self.sb._violation(
                w, "unexpected message from the worker", self, blame_current=not stale and w.busy is not None
            )
            return
        i = w.busy
        if frame.get("refused") is True and w.fast and i not in self.refused:
            self.refused.add(i)  # not run: the verifier did not admit it
            self.forked.append(i)
            w.busy = None
            self._next(w)
            return
        res = self._validate(frame, self.n_inputs[i], self.sb.stdout_cap)
        if res is None:
            self.sb._violation(w, "malformed result", self, blame_current=True)
            return
        res.duration_s = time.monotonic() - w.started
        for key, stat in (("dur", "worker_busy_s"), ("cpu", "worker_cpu_s")):
            v = frame.get(key)  # diagnostics only: reported by the (untrusted) worker
            if type(v) is float and 0 <= v < 1e6:
                self.sb.stats[stat] += v
        if frame.get("fast") is True:
            self.sb.stats["fast_path"] += 1
        self._finish(w, res)
        w.done += 1
        if frame.get("recycle") is True or w.done >= self.sb.recycle_every:
            self.sb.stats["recycled"] += 1
            self.unqueue(w)
            self.sb._kill(w)
            return
        self._next(w)

    def _next(self, w: _Worker) -> None:
        """The worker answered: the program waiting first in its socket is now running; refill."""
        if w.queued:
            i, token, _ = w.queued.pop(0)
            self._start(w, i, token)
        self._retire_if_done(w)
        todo = self._queue_of(w)
        while todo and not w.dead and not w.closing and _has_room(w):
            if not self._dispatch(w, todo.popleft()):
                break

    @staticmethod
    def _validate(frame: dict, n_inputs: int, stdout_cap: int) -> ExecResult | None:
        err, outs = frame.get("error"), frame.get("outputs")
        detail, out = frame.get("detail", ""), frame.get("stdout", "")
        if type(detail) is not str or type(out) is not str:
            return None
        if len(out) > stdout_cap + 64:  # the worker caps it; a forged frame need not
            out = out[:stdout_cap] + f"\n[... {len(out) - stdout_cap} more characters dropped]"
        if err is None:
            if type(outs) is not list or len(outs) != n_inputs:
                return None
            grids = [decode_grid(g) for g in outs]
            if any(g is None for g in grids):
                return None
            return ExecResult(grids, None, "", stdout=out)
        if err not in ERROR_KINDS:
            return None
        return ExecResult(None, err, detail[:500], stdout=out)

    def _finish(self, w: _Worker, res: ExecResult) -> None:
        if w.busy is not None:
            self.results[w.busy] = res
            w.last = w.busy
        w.busy = None

    def on_violation(self, w: _Worker, why: str, blame_current: bool) -> None:
        self.unqueue(w)
        culprit = w.busy if blame_current else w.last
        if culprit is not None:
            self.results[culprit] = ExecResult(None, "unsafe", f"tampered with the result channel: {why}")
        if w.busy is not None and w.busy != culprit:
            self._requeue(w.busy)
        w.busy = None

    def _requeue(self, i: int) -> None:
        if i in self.requeued:
            self.results[i] = ExecResult(None, "exception", "worker lost twice while running this program")
        else:
            self.requeued.add(i)
            self.results[i] = None
            (self.forked if i in self.refused else self.queue).appendleft(i)


def _send_blocking(sock, data: bytes) -> None:
    sock.settimeout(_SEND_TIMEOUT_S)
    try:
        sock.sendall(data)
    finally:
        sock.setblocking(False)


def _has_room(w: _Worker) -> bool:
    """May another program be sent to this worker now? A forking worker serves one program (its
    next one would be read into its heap, which that program's process inherits)."""
    return len(w.queued) < _QUEUE_DEPTH if w.fast else w.busy is None


def _death_result(status: int | None, elapsed: float) -> ExecResult:
    if status is None:
        return ExecResult(None, "exception", "worker process died", elapsed)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        if sig == signal.SIGXCPU:
            return ExecResult(None, "timeout", "CPU time limit", elapsed)
        if sig == hardstop.SIGNAL:  # the fast path's kernel timer: stuck in C code past the limit
            return ExecResult(
                None, "timeout", "killed past the wall-clock limit (in code that never returned)", elapsed
            )
        if sig == signal.SIGKILL:
            return ExecResult(None, "memory", "worker killed by SIGKILL (out of memory)", elapsed)
        if sig == signal.SIGSYS:
            return ExecResult(None, "unsafe", "killed by the seccomp filter", elapsed)
        return ExecResult(
            None,
            "exception",
            f"worker crashed with {name}" + (" (stack overflow?)" if sig == signal.SIGSEGV else ""),
            elapsed,
        )
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    return ExecResult(None, "exception", f"program ended the worker process (exit code {code})", elapsed)


_TO_DIGITS = bytes(range(48, 58)).ljust(256, b"?")  # cell value -> its digit (values were checked)


def encode_input(grid: Any, program: int, k: int) -> str:
    """Input grid -> "HxW:digits"; a grid that is not an ARC grid is the caller's error."""
    import numpy as np

    arr = np.asarray(grid)
    if (
        arr.ndim != 2
        or arr.dtype.kind not in "iub"
        or arr.size == 0
        or max(arr.shape) > 30
        or np.minimum.reduce(arr, axis=None) < 0  # the ufuncs themselves: a third of the cost of .min()
        or np.maximum.reduce(arr, axis=None) > 9
    ):
        raise ValueError(f"inputs[{program}][{k}] is not an ARC grid (2-D, sides 1..30, ints 0..9)")
    h, w = arr.shape
    return f"{h}x{w}:" + arr.astype(np.uint8).tobytes().translate(_TO_DIGITS).decode("ascii")


class EncodedInputs:
    """Encoded input grids by content, kept by the pool across batches: a task's inputs come back
    in every group of its completions and in every training step. Only numpy integer grids are
    keyed (dtype, shape and bytes: the encoding is a function of exactly these)."""

    MAX_GRIDS = 2048

    def __init__(self):
        self.by_content: dict[tuple, str] = {}

    def encode(self, grid: Any, program: int, k: int) -> str:
        if type(grid) is not _ndarray() or grid.dtype.kind not in "iub":
            return encode_input(grid, program, k)
        key = (grid.dtype.str, grid.shape, grid.tobytes())
        text = self.by_content.get(key)
        if text is None:
            text = encode_input(grid, program, k)
            if len(self.by_content) >= self.MAX_GRIDS:
                self.by_content.clear()
            self.by_content[key] = text
        return text


def _ndarray() -> type:
    import numpy as np

    return np.ndarray
