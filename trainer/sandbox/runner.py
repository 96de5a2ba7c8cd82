"""Execution of one program: fresh globals, determinism re-run, validation, and classification of
what the program attempted.

Runs in a child that is already confined (rlimits, Landlock, seccomp) and that exits right after
this program, so nothing a program changes (modules, caches, interpreter knobs, files) can reach
the next one; or, for a program the verifier admitted, in the worker itself (`inline`). What lives here only *classifies* behaviour: an audit hook (cannot be removed from
Python) turns attempts at processes, sockets, ctypes, heap or frame introspection into an `unsafe`
error even when the OS would also refuse them.
"""

from __future__ import annotations

import builtins
import io
import sys
import time
import types
from typing import Any

import numpy as np

from .result import encode_grid, to_grid_array

PROGRAM_NAME = "<program>"
PROGRAM_MODULE = "__arc_program__"

# Audit events that an ARC transform never needs; seeing one marks the program unsafe.
UNSAFE_EVENTS = frozenset(
    """
os.system os.exec os.posix_spawn os.spawn os.fork os.forkpty os.kill os.killpg subprocess.Popen
signal.pthread_kill socket.__new__ socket.connect socket.bind socket.getaddrinfo
socket.gethostbyname socket.gethostbyaddr socket.sendto socket.sendmsg socket.socketpair
sys.addaudithook gc.get_objects gc.get_referrers gc.get_referents _thread.start_new_thread
os.putenv os.unsetenv sys.remote_exec sys.settrace sys.setprofile sys._current_frames
sys._current_exceptions resource.setrlimit resource.prlimit sys.monitoring.register_callback
_thread.start_joinable_thread
""".split()
)
UNSAFE_PREFIXES = ("ctypes.", "winreg.", "msvcrt.", "mmap.")
UNSAFE_IMPORTS = frozenset(
    {
        "ctypes",
        "_ctypes",
        # native calls like ctypes', without any audit event (a program called syscalls through it
        # unclassified)
        "cffi",
        "_cffi_backend",
        "subprocess",
        "_posixsubprocess",
        "socket",
        "_socket",
        "multiprocessing",
        "pty",
        "resource",
        "fcntl",
        "mmap",
    }
)
# Reaching the harness's frames (and through them its state) from a program: frame objects
# obtained by the program itself or through inspect/traceback helpers it calls.
FRAME_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"})
FRAME_HELPER_FILES = ("inspect.py", "traceback.py")


class UnsafeOperation(BaseException):
    """Raised by the audit hook; BaseException so `except Exception` in a program misses it."""


class ProgramTimeout(BaseException):
    """Raised by the fast path's timer (`inline`); BaseException for the same reason."""


class _State:
    active = False
    in_hook = False
    unsafe_event = ""


def _audit(event: str, args: tuple) -> None:
    if not _State.active or _State.in_hook:
        return
    bad = event in UNSAFE_EVENTS or event.startswith(UNSAFE_PREFIXES)
    if event == "import" and args and str(args[0]).split(".")[0] in UNSAFE_IMPORTS:
        bad = _imported_by_program()  # libraries may need them internally (pandas -> mmap)
    elif event == "sys._getframe" or (event == "object.__getattr__" and len(args) > 1 and args[1] in FRAME_ATTRS):
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


class Runner:
    """Built once in the worker (before any fork); `run` is called in the child of one program."""

    def __init__(self, common: types.ModuleType, stdout_cap: int, input_format: str):
        self.common = common
        self.stdout_cap = stdout_cap
        self.input_format = input_format
        self.base_globals = program_globals(common)
        # Two fresh program modules (the run and the determinism re-run), built here in the worker
        # so that a program's process does not copy the globals itself (copying touches every
        # object in them: ~100 copy-on-write page faults per program). The worker never runs a
        # program, so its own modules stay untouched and each child starts from the same ones.
        self._spare_modules = [self._new_module(), self._new_module()]
        sys.addaudithook(_audit)
        _guard_signal_handlers()
        _guard_thread_starts()

    def _fresh(self, grid):
        if self.input_format == "numpy":
            return grid.copy()
        return grid.tolist()

    # ----- one program ----------------------------------------------------------------------
    def run(self, src: str, inputs: list, check_det: bool, builtins_dict: dict | None = None, tree=None) -> dict:
        """Run one program on decoded input grids; the result as the worker sends it on.
        `builtins_dict`: the fast path's restricted builtins (each run then gets new modules);
        `tree`: the source already parsed (by the verifier), compiled instead of parsing again."""
        out = CappedWriter(self.stdout_cap)
        _State.unsafe_event = ""
        t0 = time.perf_counter()
        sys.stdout = sys.stderr = out
        try:
            _State.active = True
            res = self._execute(tree if tree is not None else src, inputs, check_det, builtins_dict)
        except BaseException as e:  # noqa: BLE001 - classification of arbitrary program failure
            # Still watched: the text of a program's exception is its own code (`__str__`), and
            # what that code attempts is classified like the rest of the program.
            res = classify(e)
        finally:
            _State.active = False
        if _State.unsafe_event and res.get("error") != "unsafe":
            res = {
                "outputs": None,
                "error": "unsafe",
                "detail": f"forbidden operation attempted: {_State.unsafe_event}",
            }
        res["stdout"] = out.text()
        res["dur"] = time.perf_counter() - t0
        return res

    def _execute(self, src, inputs: list, check_det: bool, builtins_dict: dict | None) -> dict:
        try:
            code = compile(src, PROGRAM_NAME, "exec")
        except (SyntaxError, ValueError, OverflowError) as e:
            return {"outputs": None, "error": "parse", "detail": f"{type(e).__name__}: {e}"[:300]}
        fn = self._load(code, builtins_dict)
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
            fn2 = self._load(code, builtins_dict)
            again, _ = to_grid_array(fn2(self._fresh(inputs[k]))) if fn2 else (None, "")
            if again is None or again.shape != outputs[k].shape or not (again == outputs[k]).all():
                return {
                    "outputs": None,
                    "error": "nondeterministic",
                    "detail": f"a second run on input {k} gave a different output",
                }
        return {"outputs": [encode_grid(a) for a in outputs], "error": None, "detail": ""}

    def _new_module(self) -> types.ModuleType:
        mod = types.ModuleType(PROGRAM_MODULE)
        mod.__dict__.update(self.base_globals)
        return mod

    def _load(self, code, builtins_dict: dict | None = None):
        # A real module (registered while the program runs) so that code looking itself up in
        # sys.modules works: dataclasses, pickle-by-reference, typing.get_type_hints ...
        if builtins_dict is None:
            mod = self._spare_modules.pop() if self._spare_modules else self._new_module()
        else:  # the fast path: the spares stay for the children forked later
            mod = self._new_module()
            mod.__dict__["__builtins__"] = builtins_dict
        g = mod.__dict__
        sys.modules[PROGRAM_MODULE] = mod
        exec(code, g)
        fn = g.get("transform")
        return fn if callable(fn) else None


def program_globals(common: types.ModuleType) -> dict[str, Any]:
    """What a program's module holds before it runs: numpy, typing's names, the helper library."""
    import typing

    base: dict[str, Any] = {
        "__builtins__": builtins,
        "__name__": PROGRAM_MODULE,
        "np": np,
        "numpy": np,
        "common": common,
    }
    for name in getattr(typing, "__all__", []):
        if hasattr(typing, name):
            base[name] = getattr(typing, name)
    for name in getattr(common, "__all__", [n for n in vars(common) if not n.startswith("_")]):
        if hasattr(common, name):
            base[name] = getattr(common, name)
    return base


def decode_input(s: str) -> np.ndarray:
    head, _, digits = s.partition(":")
    h, w = (int(v) for v in head.split("x"))
    return (np.frombuffer(digits.encode("ascii"), dtype=np.uint8).reshape(h, w) - 48).astype(np.int64)


def _cells(grid) -> int:
    return grid.size if hasattr(grid, "size") else sum(len(r) for r in grid)


def _guard_signal_handlers() -> None:
    """Programs may not install Python signal handlers: a handler receives the interrupted
    frame, and through it the harness's frames. (No audit event exists for this.) The C
    function is wrapped; `signal.signal` calls it, so both routes pass the guard."""
    import _signal

    real = _signal.signal

    def guarded(signalnum, handler):
        if _State.active and callable(handler) and (_called_from_program(depth=2) or _called_from_program(depth=3)):
            if not _State.unsafe_event:
                _State.unsafe_event = "signal.signal"
            raise UnsafeOperation("forbidden operation: signal.signal with a Python handler")
        return real(signalnum, handler)

    guarded.__doc__ = real.__doc__
    _signal.signal = guarded


def _guard_thread_starts() -> None:
    """A program's attempt at a thread is unsafe. Python before 3.13 raises no audit event for it
    (the seccomp filter refuses the clone: RuntimeError "can't start new thread", a text any program
    can raise itself, which used to be the test); the functions that start one are wrapped instead,
    where the program's process reaches them (`_thread` and `threading`'s own reference)."""
    import _thread

    spots = [(_thread, ("start_new_thread", "start_new", "start_joinable_thread"))]
    if "threading" in sys.modules:  # imported later, it binds the wrapped function
        spots.append((sys.modules["threading"], ("_start_new_thread", "_start_joinable_thread")))
    for mod, names in spots:
        for name in names:
            real = getattr(mod, name, None)
            if real is not None:
                setattr(mod, name, _refused_while_active(real, f"_thread.{name.lstrip('_')}"))


def _refused_while_active(real, event: str):
    def guarded(*args, **kwargs):
        if _State.active:
            if not _State.unsafe_event:
                _State.unsafe_event = event
            raise UnsafeOperation(f"forbidden operation: {event}")
        return real(*args, **kwargs)

    guarded.__doc__ = real.__doc__
    return guarded


# What classification reads of an exception, bound here and read through the C-level slots: a
# program's exception class may lie about itself (a `__class__` property, a metaclass whose `mro()`
# lists MemoryError, `__cause__`/`__context__`/`__traceback__` properties) and a program in a process
# of its own may rebind the builtins (`builtins.MemoryError = ValueError`); the kind used to follow
# such lies. A program can still raise a real MemoryError or PermissionError itself.
_type = type
_base_of = type.__dict__["__base__"].__get__
_name_of = type.__dict__["__name__"].__get__
_cause_of = BaseException.__dict__["__cause__"].__get__
_context_of = BaseException.__dict__["__context__"].__get__
_traceback_of = BaseException.__dict__["__traceback__"].__get__
_MEMORY_ERROR = MemoryError
_KINDS_BY_CLASS = ((MemoryError, "memory"), (PermissionError, "unsafe"))
_id, _len, _str, _set = id, len, str, set


def _real_class_kind(ex: BaseException) -> str | None:
    """The kind that the exception's real class (its chain of C-level bases) says, or None."""
    t = _type(ex)
    while t is not None:
        for cls, kind in _KINDS_BY_CLASS:
            if t is cls:
                return kind
        t = _base_of(t)
    return None


def classify(e: BaseException) -> dict:
    """Map an exception raised by (or through) a program to an error kind: memory or unsafe (the OS
    refused something) by the real class of an exception in its chain. `timeout` and the audit hook's
    `unsafe` are not decided here: only the sandbox's own timer and hook know them (the fast path's
    `ProgramTimeout` and the hook's `UnsafeOperation`, which a forked program can raise itself)."""
    # Every exception linked to it, through both links: `raise X from Y` (or `from None`) after an
    # OS refusal used to hide the refusal (only the cause was followed when there was one), and
    # `cause or context` asked the program's exception for its truth value (its own code).
    chain, seen, todo = [], _set(), [e]
    while todo and _len(chain) < 20:
        cur = todo.pop()
        if cur is None or _id(cur) in seen:
            continue
        seen.add(_id(cur))
        chain.append(cur)
        todo += [_context_of(cur), _cause_of(cur)]
    kind = "exception"
    for ex in chain:
        found = _real_class_kind(ex)
        if found:
            kind = found
            break
    name = _name_of(_type(e))
    try:
        detail = f"{name}: {_str(e)[:300]}"
    except BaseException:  # noqa: BLE001 - a hostile __str__
        detail = name
    if kind == "memory" and _type(e) is _MEMORY_ERROR and not e.args:
        detail = "MemoryError: memory limit exceeded"
    line = _program_line(e)
    if line:
        detail += f" (line {line})"
    return {"outputs": None, "error": kind, "detail": detail[:300]}


def _program_line(e: BaseException) -> int | None:
    tb, line = _traceback_of(e), None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == PROGRAM_NAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
