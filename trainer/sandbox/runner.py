"""In-worker execution of one program: fresh globals, deadline, determinism re-run, validation.

Runs inside a worker that is already confined (rlimits, Landlock, seccomp). What lives here is
about *classifying* behaviour and keeping one program from affecting the next:
  * an audit hook (cannot be removed from Python) turns attempts at processes, sockets, ctypes and
    heap introspection into an `unsafe` error even when the OS would also refuse them;
  * identity fingerprints of shared modules (numpy, builtins, common, ...) detect monkey-patching;
    the damage is undone at once and the worker asks to be replaced;
  * interpreter-wide knobs (recursion limit, trace/profile hooks, signal handlers, cwd, random
    state, numpy error state) are reset before every program.
"""
from __future__ import annotations

import builtins
import gc
import io
import operator
import os
import signal
import sys
import time
import types
from typing import Any

import numpy as np

from .result import encode_grid, to_grid_array

_is = operator.is_

PROGRAM_NAME = "<program>"
PROGRAM_MODULE = "__arc_program__"

# Audit events that an ARC transform never needs; seeing one marks the program unsafe.
UNSAFE_EVENTS = frozenset("""
os.system os.exec os.posix_spawn os.spawn os.fork os.forkpty os.kill os.killpg subprocess.Popen
signal.pthread_kill socket.__new__ socket.connect socket.bind socket.getaddrinfo
socket.gethostbyname socket.gethostbyaddr socket.sendto socket.sendmsg socket.socketpair
sys.addaudithook gc.get_objects gc.get_referrers gc.get_referents _thread.start_new_thread
os.putenv os.unsetenv sys.remote_exec sys.settrace sys.setprofile sys._current_frames
sys._current_exceptions resource.setrlimit resource.prlimit sys.monitoring.register_callback
""".split())
UNSAFE_PREFIXES = ("ctypes.", "winreg.", "msvcrt.", "mmap.")
UNSAFE_IMPORTS = frozenset({"ctypes", "_ctypes", "subprocess", "_posixsubprocess", "socket",
                            "_socket", "multiprocessing", "pty", "resource", "fcntl", "mmap"})
# Reaching the harness's frames (and through them its state) from a program: frame objects
# obtained by the program itself or through inspect/traceback helpers it calls.
FRAME_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"})
FRAME_HELPER_FILES = ("inspect.py", "traceback.py")

# Shared modules whose namespaces a program could poison for the programs that follow it.
WATCHED_MODULES = ("builtins", "numpy", "numpy.random", "numpy.linalg", "common", "math", "random",
                   "itertools", "collections", "functools", "copy", "sys", "os.path")


class Deadline(BaseException):
    """Raised by SIGALRM when the program's wall-clock budget is spent."""


class UnsafeOperation(BaseException):
    """Raised by the audit hook; BaseException so `except Exception` in a program misses it."""


class _State:
    active = False
    chdir = False
    in_hook = False
    unsafe_event = ""


def _audit(event: str, args: tuple) -> None:
    if not _State.active or _State.in_hook:
        return
    if event == "os.chdir":
        _State.chdir = True
    bad = event in UNSAFE_EVENTS or event.startswith(UNSAFE_PREFIXES)
    if event == "import" and args and str(args[0]).split(".")[0] in UNSAFE_IMPORTS:
        bad = _imported_by_program()  # libraries may need them internally (pandas -> mmap)
    elif event == "sys._getframe" or (event == "object.__getattr__" and len(args) > 1
                                      and args[1] in FRAME_ATTRS):
        bad = _called_from_program()
    elif event in ("object.__setattr__", "object.__delattr__") and args:
        # Raised for attribute writes on classes and for function internals such as __code__:
        # allowed on the program's own objects, poisoning on anyone else's (common.Color.RED = 5,
        # common.flood_fill.__code__ = ...), which a namespace fingerprint would not see.
        bad = getattr(args[0], "__module__", None) != PROGRAM_MODULE and _called_from_program()
    if bad:
        if not _State.unsafe_event:
            _State.unsafe_event = event
        raise UnsafeOperation(f"forbidden operation: {event}")


def _imported_by_program() -> bool:
    _State.in_hook = True
    try:
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename.startswith("<frozen"):
            frame = frame.f_back
        return frame is not None and frame.f_code.co_filename == PROGRAM_NAME
    finally:
        _State.in_hook = False


def _called_from_program(depth: int = 2) -> bool:
    """Is the code that triggered this audit event the program (or inspect/traceback)?"""
    _State.in_hook = True
    try:
        frame = sys._getframe(depth)  # 0: this function, 1: _audit/guard, 2: the caller
        code = frame.f_code.co_filename
        return code == PROGRAM_NAME or code.endswith(FRAME_HELPER_FILES)
    finally:
        _State.in_hook = False


class CappedWriter(io.TextIOBase):
    """sys.stdout replacement keeping the first `cap` characters and counting the rest."""

    def __init__(self, cap: int):
        self.cap, self.parts, self.size, self.dropped = cap, [], 0, 0

    def writable(self) -> bool:
        return True

    def write(self, s) -> int:
        if type(s) is not str:
            s = str(s)
        n = len(s)
        room = self.cap - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(n, room)
        self.dropped += max(0, n - max(room, 0))
        return n

    def text(self) -> str:
        out = "".join(self.parts)
        return out + (f"\n[... {self.dropped} more characters dropped]" if self.dropped else "")


def _fingerprint(mods: dict[str, types.ModuleType]) -> list:
    # Identity only (operator.is_): never id(), which is an audited call, and never ==, which a
    # planted object could answer with a lie.
    return [(name, sys.modules.get(name), tuple(mod.__dict__), list(mod.__dict__.values()))
            for name, mod in mods.items()]


def _same(a: list, b: list) -> bool:
    for (n1, m1, k1, v1), (n2, m2, k2, v2) in zip(a, b):
        if m1 is not m2 or k1 != k2 or len(v1) != len(v2) or not all(map(_is, v1, v2)):
            return False
    return True


class Runner:
    def __init__(self, common: types.ModuleType, stdout_cap: int, input_format: str, workdir: str):
        self.common = common
        self.stdout_cap = stdout_cap
        self.input_format = input_format
        self.workdir = workdir
        self.inputs_cache: dict[str, list] = {}
        self.live_globals: list[dict] = []
        import typing
        base: dict[str, Any] = {"__builtins__": builtins, "__name__": PROGRAM_MODULE,
                                "np": np, "numpy": np, "common": common}
        for name in getattr(typing, "__all__", []):
            if hasattr(typing, name):
                base[name] = getattr(typing, name)
        for name in getattr(common, "__all__", [n for n in vars(common) if not n.startswith("_")]):
            if hasattr(common, name):
                base[name] = getattr(common, name)
        self.base_globals = base
        self.watched = {n: sys.modules[n] for n in WATCHED_MODULES if n in sys.modules}
        self.saved_dicts = {n: dict(m.__dict__) for n, m in self.watched.items()}
        self.saved_modules = dict(sys.modules)
        self.fingerprint = _fingerprint(self.watched)
        self.tags = _version_tags(self.watched)
        self.classes = [(f"common.{n}", c, dict(c.__dict__)) for n, c in vars(common).items()
                        if isinstance(c, type) and c.__module__ == common.__name__]
        self.sys_only = {"sys": sys}
        self.sys_fingerprint = _fingerprint(self.sys_only)
        self.saved_path = list(sys.path)
        self.saved_env = dict(_environ_data())
        self.saved_environ = dict(os.environ)
        self.saved_recursion = sys.getrecursionlimit()
        self.saved_err = np.geterr()
        self.saved_handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM,
                                                                signal.SIGXCPU, signal.SIGXFSZ)}
        sys.addaudithook(_audit)
        _guard_signal_handlers()

    # ----- per-program hygiene -------------------------------------------------------------
    def _reset(self, seed: int) -> None:
        sys.setrecursionlimit(self.saved_recursion)
        sys.settrace(None)
        sys.setprofile(None)
        if not gc.isenabled():
            gc.enable()
        for s, h in self.saved_handlers.items():
            if signal.getsignal(s) is not h:
                signal.signal(s, h)
        if signal.getsignal(signal.SIGALRM) is not _on_alarm:
            signal.signal(signal.SIGALRM, _on_alarm)
        np.seterr(**self.saved_err)
        # No reseeding: the global generators just continue, so a re-run never repeats the
        # first run's random numbers, and a program that seeds itself stays deterministic.
        if _State.chdir:  # seen by the audit hook ("os.chdir"): no getcwd syscall per program
            os.chdir(self.workdir)
            _State.chdir = False

    def _poisoned(self) -> str:
        """Undo changes to shared state; return what was changed ('' when clean)."""
        changed = []
        if self.tags is not None and _tags_unchanged(self.tags, self.watched) \
                and _same(_fingerprint(self.sys_only), self.sys_fingerprint):
            pass  # fast path: no watched namespace was written to (dict version tags)
        elif not _same(_fingerprint(self.watched), self.fingerprint):
            for name, mod in self.watched.items():
                if sys.modules.get(name) is not mod:
                    sys.modules[name] = mod
                    changed.append(f"sys.modules[{name!r}]")
                d, saved = mod.__dict__, self.saved_dicts[name]
                bad = [k for k in set(d) | set(saved) if d.get(k) is not saved.get(k)
                       and not _benign_change(name, k, d.get(k), saved.get(k))]
                if bad:
                    d.clear()
                    d.update(saved)
                    changed.append(f"{name}.{sorted(map(str, bad))[0]}")
                else:  # lazily imported submodules, warning registries: keep, re-snapshot
                    self.saved_dicts[name] = dict(d)
            self.fingerprint = _fingerprint(self.watched)
            if self.tags is not None:
                self.tags = _version_tags(self.watched)
            self.sys_fingerprint = _fingerprint(self.sys_only)
        changed += self._classes_poisoned()
        if sys.path != self.saved_path:
            sys.path[:] = self.saved_path
            changed.append("sys.path")
        if _environ_data() != self.saved_env:
            os.environ.clear()
            os.environ.update(self.saved_environ)
            changed.append("os.environ")
        return ", ".join(changed)

    def _classes_poisoned(self) -> list[str]:
        """Classes of the helper library (common.Color, ...): attribute writes on classes are
        not audited by CPython, so compare their namespaces and put them back."""
        changed = []
        for name, cls, saved in self.classes:
            cur = cls.__dict__
            if len(cur) == len(saved) and tuple(cur) == tuple(saved) \
                    and all(map(_is, cur.values(), saved.values())):
                continue
            for k in [k for k in cur if k not in saved]:
                try:
                    delattr(cls, k)
                except (AttributeError, TypeError):
                    pass
            for k, v in saved.items():
                if cur.get(k) is not v:
                    try:
                        setattr(cls, k, v)
                    except (AttributeError, TypeError):
                        pass
            changed.append(name)
        return changed

    def _inputs(self, key: str, payload: list | None) -> list:
        if payload is not None:
            if len(self.inputs_cache) >= 64:
                self.inputs_cache.clear()
            grids = [_decode_input(g) for g in payload]
            self.inputs_cache[key] = grids if self.input_format == "numpy" else [g.tolist() for g in grids]
        return self.inputs_cache[key]

    def _fresh(self, grid):
        if self.input_format == "numpy":
            return grid.copy()
        return [list(r) for r in grid]

    # ----- one program ----------------------------------------------------------------------
    def run(self, src: str, key: str, payload: list | None, timeout_s: float, check_det: bool,
            seed: int) -> dict:
        inputs = self._inputs(key, payload)
        out = CappedWriter(self.stdout_cap)
        _State.unsafe_event = ""
        res: dict[str, Any] = {"outputs": None, "error": None, "detail": ""}
        t0 = time.perf_counter()
        self._reset(seed)
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out
        try:
            signal.setitimer(signal.ITIMER_REAL, timeout_s)
            _State.active = True
            try:
                res = self._execute(src, inputs, check_det, seed)
            finally:
                # Free the program's objects while still attributed to it: its globals and
                # function form a cycle, which would otherwise be collected (running any
                # __del__ it defined) at some later, unwatched moment.
                self._release()
                _State.active = False
                signal.setitimer(signal.ITIMER_REAL, 0)
        except BaseException as e:  # noqa: BLE001 - classification of arbitrary program failure
            _State.active = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            res = classify(e)
        finally:
            _State.active = False
            sys.stdout, sys.stderr = old_out, old_err
        if _State.unsafe_event and res.get("error") not in ("unsafe",):
            res = {"outputs": None, "error": "unsafe",
                   "detail": f"forbidden operation attempted: {_State.unsafe_event}"}
        poisoned = self._poisoned()
        res["recycle"] = bool(poisoned) or res.get("error") in ("memory", "timeout")
        if poisoned:  # worse than whatever else happened (it may even have caused that)
            res.update(outputs=None, error="unsafe", detail=f"modified shared state: {poisoned}")
        res["stdout"] = out.text()
        res["dur"] = time.perf_counter() - t0
        return res

    def _execute(self, src: str, inputs: list, check_det: bool, seed: int) -> dict:
        try:
            code = compile(src, PROGRAM_NAME, "exec")
        except (SyntaxError, ValueError, OverflowError) as e:
            return {"outputs": None, "error": "parse", "detail": f"{type(e).__name__}: {e}"[:300]}
        fn = self._load(code)
        if fn is None:
            return {"outputs": None, "error": "parse", "detail": "no callable transform() defined"}
        outputs = []
        for i, grid in enumerate(inputs):
            got, why = to_grid_array(fn(self._fresh(grid)))
            if got is None:
                return {"outputs": None, "error": "invalid_output", "detail": f"input {i}: {why}"}
            outputs.append(got)
        if check_det and inputs:
            # Fresh globals and a different seed, on the smallest input other than the first
            # (there the original run had already been called before, so state kept between
            # calls shows up too), or unseeded randomness gives a different output.
            k = min(range(1 if len(inputs) > 1 else 0, len(inputs)), key=lambda j: _cells(inputs[j]))
            fn2 = self._load(code)
            again, _ = to_grid_array(fn2(self._fresh(inputs[k]))) if fn2 else (None, "")
            if again is None or again.shape != outputs[k].shape or not (again == outputs[k]).all():
                return {"outputs": None, "error": "nondeterministic",
                        "detail": f"a second run on input {k} gave a different output"}
        return {"outputs": [encode_grid(a) for a in outputs], "error": None, "detail": ""}

    def _release(self) -> None:
        sys.modules.pop(PROGRAM_MODULE, None)
        for g in self.live_globals:
            g.clear()
        self.live_globals.clear()
        gc.collect(0)

    def _load(self, code):
        # A real module (registered while the program runs) so that code looking itself up in
        # sys.modules works: dataclasses, pickle-by-reference, typing.get_type_hints ...
        mod = types.ModuleType(PROGRAM_MODULE)
        g = mod.__dict__
        g.update(self.base_globals)
        sys.modules[PROGRAM_MODULE] = mod
        self.live_globals.append(g)
        exec(code, g)
        fn = g.get("transform")
        return fn if callable(fn) else None


# The sys namespace is written by the harness itself (stdout swap), so it is always compared
# entry by entry; the others are checked through CPython's dict version tag when available.
_TAG_OFFSET = 24  # offsetof(PyDictObject, ma_version_tag) on 64-bit CPython 3.11/3.12


def _version_tags(mods: dict[str, types.ModuleType]):
    """ctypes views of each namespace's dict version tag, or None where that is not reliable."""
    if sys.implementation.name != "cpython" or sys.version_info[:2] not in ((3, 11), (3, 12)) \
            or sys.maxsize < 2 ** 32:
        return None
    import ctypes
    probe: dict = {}
    view = ctypes.c_uint64.from_address(id(probe) + _TAG_OFFSET)
    before = view.value
    probe["x"] = 1
    if view.value == before:
        return None
    out = []
    for name, mod in mods.items():
        if name == "sys":
            continue
        t = ctypes.c_uint64.from_address(id(mod.__dict__) + _TAG_OFFSET)
        out.append((mod.__dict__, t, t.value))
    return out


def _tags_unchanged(tags, mods) -> bool:
    for _d, view, value in tags:
        if view.value != value:
            return False
    for name, mod in mods.items():
        if sys.modules.get(name) is not mod:
            return False
    return True


def _decode_input(s: str) -> np.ndarray:
    head, _, digits = s.partition(":")
    h, w = (int(v) for v in head.split("x"))
    return (np.frombuffer(digits.encode("ascii"), dtype=np.uint8).reshape(h, w) - 48).astype(np.int64)


def _cells(grid) -> int:
    return grid.size if hasattr(grid, "size") else sum(len(r) for r in grid)


def _environ_data() -> dict:
    return getattr(os.environ, "_data", None) or dict(os.environ)


def _benign_change(modname: str, key: str, new: Any, old: Any) -> bool:
    """Changes the interpreter makes on its own: a submodule imported for the first time is
    bound on its package, and `warnings` keeps a per-module registry."""
    if key == "__warningregistry__":
        return True
    if old is None and isinstance(new, types.ModuleType):
        return sys.modules.get(f"{modname}.{key}") is new
    return False


def _guard_signal_handlers() -> None:
    """Programs may not install Python signal handlers: a handler receives the interrupted
    frame, and through it the harness's frames. (No audit event exists for this.) The C
    function is wrapped; `signal.signal` calls it, so both routes pass the guard."""
    import _signal
    real = _signal.signal

    def guarded(signalnum, handler):
        if _State.active and callable(handler) and (_called_from_program(depth=2)
                                                     or _called_from_program(depth=3)):
            if not _State.unsafe_event:
                _State.unsafe_event = "signal.signal"
            raise UnsafeOperation("forbidden operation: signal.signal with a Python handler")
        return real(signalnum, handler)

    guarded.__doc__ = real.__doc__
    _signal.signal = guarded


def _on_alarm(signum, frame):
    raise Deadline()


def classify(e: BaseException) -> dict:
    """Map an exception raised by (or through) a program to an error kind."""
    chain, seen = [], set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen and len(chain) < 20:
        seen.add(id(cur))
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    kind = "exception"
    for ex in chain:
        if isinstance(ex, Deadline):
            kind = "timeout"
            break
        if isinstance(ex, UnsafeOperation) or isinstance(ex, PermissionError):
            kind = "unsafe"
            break
        if type(ex) is RuntimeError and "can't start new thread" in str(ex.args[:1]):
            kind = "unsafe"  # clone() refused by the seccomp filter
            break
        if isinstance(ex, MemoryError):
            kind = "memory"
            break
    try:
        detail = f"{type(e).__name__}: {e}"
    except BaseException:  # noqa: BLE001 - a hostile __str__
        detail = type(e).__name__
    if kind == "timeout":
        detail = "wall-clock limit exceeded"
    elif kind == "memory" and isinstance(e, MemoryError) and not str(e):
        detail = "MemoryError: memory limit exceeded"
    line = _program_line(e)
    if line:
        detail += f" (line {line})"
    return {"outputs": None, "error": kind, "detail": detail[:300]}


def _program_line(e: BaseException) -> int | None:
    tb, line = e.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == PROGRAM_NAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
