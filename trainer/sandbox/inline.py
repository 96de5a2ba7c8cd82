"""The fast path: a program the verifier admits (`purity.Verifier`) runs in the worker itself.

Such a program can reach no state it shares with later programs but the global random
generators (reset after every program that names `random`) and the few containers that
`shared_mutables` finds (`Color.ALL_COLORS`, `Color.NOT_BLACK`). It gets fresh globals and a
builtins dict holding only the allowed builtins (and `__import__`, for numpy's own imports). It runs under
a wall-clock timer that raises `ProgramTimeout` (a BaseException) every 50 ms once the limit is
reached, and past 0.1 s more answers `timeout` and ends the worker (a `finally` that starts over
catches each one); C code that never returns is ended 0.3 s past the limit by a kernel timer
(`hardstop`), which ends the worker. The limit runs from the start of the verification: the
program's own source is part of its cost. After each program `Integrity.intact()` checks
(defence in depth) that every allowed module, class and container is as it was; if not, or after a
timeout, memory or recursion error (which can interrupt library code half-way), the worker answers
and then exits, and the parent starts a fresh one. The worker stays confined as for any program
(seccomp worker filter, Landlock, rlimits, minimal environment, no network).
"""

from __future__ import annotations

import builtins
import collections
import gc
import operator
import random
import signal
import sys
import time
import types
import typing
import warnings

import numpy as np

from . import dictversion, purity
from .hardstop import HardStop
from .heap import Retention
from .runner import PROGRAM_MODULE, ProgramTimeout, Runner, program_globals

_REPEAT_S = 0.05
# Bumping the warnings filters' version makes every module forget which warnings it has shown
# ("default" shows one once per place, remembered in the module that raised it, e.g. numpy's).
_FORGET_SHOWN_WARNINGS = getattr(warnings, "_filters_mutated", None)
# typing's caches of subscriptions (`List[f]` keeps `f`, what it closes over and its globals, until
# 128 later subscriptions evict it): emptied after every program, so nothing it handed them
# outlives it, neither memory nor a structure whose deallocation at eviction would crash the worker
# in a later program's time (see `InlineRunner.run`).
_TYPING_CACHE_CLEARS = getattr(typing, "_cleanups", [])
_MUTABLE = (list, dict, set, bytearray, np.ndarray, collections.deque)
_RIGID = (
    types.ModuleType,
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
    np.ufunc,
    np.dtype,
    np.generic,
    int,
    float,
    complex,
    str,
    bytes,
    bool,
    type(None),
)


# A program can catch the timer's exception for good in pure Python: a `finally` that calls the
# function it is in starts a new `try` each time (it held its worker until the parent's deadline,
# timeout_s + 1.5 s, where a forked program is killed at timeout_s). Once this much past the
# limit, the timer gives the worker up instead (the worker answers `timeout` and exits).
_GIVE_UP_AFTER_S = 0.1
# C code that never returns to Python never sees the timer: the kernel ends the worker this long
# past the limit (after the give-up above, which answers more precisely for Python code).
HARD_GRACE_S = 0.3


class _Timer:
    armed = False
    fired = False
    give_up_at = 0.0
    give_up = None  # the worker's: answers timeout and exits (never returns)
    hard: HardStop | None = None


def _on_alarm(signum, frame) -> None:
    if _Timer.armed:
        _Timer.fired = True
        if _Timer.give_up is not None and time.monotonic() > _Timer.give_up_at:
            _Timer.give_up()
        raise ProgramTimeout("wall-clock limit")


def disarm() -> None:
    _Timer.armed = False
    signal.setitimer(signal.ITIMER_REAL, 0)
    if _Timer.hard is not None:
        _Timer.hard.disarm()


class InlineRunner:
    """Built in the worker after it confined itself; `run` returns None for a refused program."""

    def __init__(self, runner: Runner, common_ok: bool, timeout_s: float, memory_mb: int, hard_stop: bool = False):
        self.runner = runner
        self.timeout_s = timeout_s
        self.verifier = purity.Verifier(runner.base_globals, common_ok)
        mods = _modules(self.verifier.modules)
        # The real __import__: numpy's C code imports its own submodules through the builtins of
        # the calling frame; the program's own import statements are limited by the verifier.
        self.builtins = {n: getattr(builtins, n) for n in purity.BUILTINS | purity.EXCEPTIONS}
        self.builtins["__import__"] = builtins.__import__
        self.random_state = random.getstate()
        self.np_random_state = np.random.get_state()
        self.integrity = Integrity(mods, runner.base_globals, self.builtins)
        # What earlier programs may leave alive (in library caches) before the worker is replaced.
        self.retention = Retention(max(16, memory_mb // 16) * 2**20)
        signal.signal(signal.SIGALRM, _on_alarm)
        if hard_stop:
            _Timer.hard = HardStop()

    def run(self, src: str, inputs: list, check_det: bool, give_up=None) -> dict | None:
        """The result of an admitted program, None for a refused one. `give_up`: called (and never
        returns) when the program keeps running past its limit despite the timer. The limit covers
        the verification too (a ProgramTimeout from it reaches the caller): a program's source can
        take the verifier longer than its run (~1 us of CPU per character)."""
        _Timer.fired = False
        _Timer.give_up = give_up
        _Timer.give_up_at = time.monotonic() + self.timeout_s + _GIVE_UP_AFTER_S
        _Timer.armed = True
        signal.setitimer(signal.ITIMER_REAL, self.timeout_s, _REPEAT_S)
        if _Timer.hard is not None:
            _Timer.hard.arm(self.timeout_s + HARD_GRACE_S)
        try:
            verdict = self.verifier.check(src)
        except BaseException:
            disarm()
            raise
        if not verdict.admitted:
            disarm()
            return None
        out_, err_ = sys.stdout, sys.stderr
        try:
            res = self.runner.run(src, inputs, check_det and verdict.rerun, self.builtins, verdict.tree)
        except ProgramTimeout:  # raised by the timer between the runner's own steps
            res = {"outputs": None, "error": "timeout", "detail": ""}
        finally:
            disarm()
            sys.stdout, sys.stderr = out_, err_
            sys.modules.pop(PROGRAM_MODULE, None)
        if _Timer.fired:
            res = {"outputs": None, "error": "timeout", "detail": f"killed after {self.timeout_s:g}s wall clock"}
            res.setdefault("stdout", "")
        if verdict.uses_random:
            self.reset_random()
        if _FORGET_SHOWN_WARNINGS is not None:
            _FORGET_SHOWN_WARNINGS()
        # What the program left is freed now, in its own time: its globals and functions form a
        # garbage cycle (so can its data), which the collector would otherwise free in a later
        # program, and freeing can crash: 5000 nested object arrays overflow the C stack when
        # deallocated, and the worker would die in the middle of an innocent program, blamed on it.
        for clear in _TYPING_CACHE_CLEARS:
            clear()
        gc.collect()
        # What survived is the worker's own (caches, numpy's lazy state): out of the collector's
        # sight, so that the next collection walks only what the next program makes (~10 us, not
        # the ~200 us of walking every survivor again after each program).
        gc.freeze()
        unsettled = res.get("error") in ("timeout", "memory", "unsafe") or str(res.get("detail", "")).startswith(
            "RecursionError"
        )
        if unsettled or not self.integrity.intact() or self.retention.exceeded():
            res["recycle"] = True
        res["fast"] = True
        return res

    def reset_random(self) -> None:
        random.setstate(self.random_state)
        np.random.set_state(self.np_random_state)


class Integrity:
    """What the fast path relies on, captured once and compared after every program: the
    namespaces of the allowed modules and classes (identity of every entry), the contents of the
    shared containers reachable through allowed names, and a few interpreter settings."""

    def __init__(self, mods: dict, base_globals: dict, restricted_builtins: dict):
        # The scan first: reading a module attribute can add entries (numpy's lazy submodules).
        self.containers = [(obj, _snapshot(obj)) for _path, obj in _scanned(_roots(base_globals, mods))]
        spaces = list({id(m): m for m in mods.values()}.values())
        spaces += [v for v in base_globals.values() if isinstance(v, type) and v.__module__ == "common"]
        # Per namespace: its size and the entries a program can reach (allowed attribute names),
        # read by one C-level itemgetter call and compared by identity; for a dict whose version
        # tag can be read (`dictversion`), only when that tag moved since the namespace last
        # passed (a class's namespace is a read-only proxy: always compared; it is small).
        self.namespaces = []
        self.passed: list[int | None] = []  # per namespace: the tag it last passed with
        for d in [vars(sp) for sp in spaces] + [restricted_builtins]:
            names = sorted(d) if d is restricted_builtins else sorted(purity.ATTRS & set(d))
            if names:
                get = operator.itemgetter(*names, *names[:1])  # two names at least: a tuple
                tag = dictversion.reader(d)
                self.namespaces.append((d, len(d), get, get(d), tag))
                self.passed.append(None if tag is None else tag.value)
        self.modules = [(name, m) for name, m in mods.items()]
        self.settings = _settings()

    def intact(self) -> bool:
        passed = self.passed
        try:
            for i, (d, size, get, values, tag) in enumerate(self.namespaces):
                now = None if tag is None else tag.value
                if now is not None and now == passed[i]:
                    continue  # not changed at all since it passed
                if len(d) != size or not all(map(operator.is_, get(d), values)):
                    return False
                passed[i] = now  # changed, but no entry that a program reaches
        except KeyError:  # an entry gone
            return False
        for name, m in self.modules:
            if sys.modules.get(name) is not m:
                return False
        for obj, snap in self.containers:
            if not _same(obj, snap):
                return False
        return _settings() == self.settings


def trusts_common(cfg: dict, common: types.ModuleType) -> bool:
    """May fast-path programs use the helper library? Only the project's own, never a custom one."""
    return cfg.get("common_module") is None and common.__name__ == "trainer.program_library"


def warm(common: types.ModuleType, common_ok: bool) -> None:
    """Run the scan for shared containers once, in the zygote, so that every fast-path worker it
    forks inherits the answer: it walks every allowed attribute name of every module and class it
    reaches (~38000 lookups, ~200 ms of CPU on a loaded 2-vCPU VM), which each replacement worker
    used to repeat (after a timeout, a memory error, or memory a program left behind)."""
    names = purity.MODULES if common_ok else purity.MODULES - {"common"}
    for _ in range(2):  # a scan can import one of these modules (numpy's lazy submodules): again then
        _scanned(_roots(program_globals(common), _modules(names)))


_SCANS: list[tuple[dict, list]] = []  # (roots, what `shared_mutables` found from them)


def _scanned(roots: dict) -> list[tuple[str, object]]:
    """`shared_mutables(roots)`, computed once for the same roots (the same objects by name; they
    are kept alive here, so an id cannot be reused by another object)."""
    for known, found in _SCANS:
        if known.keys() == roots.keys() and all(known[k] is v for k, v in roots.items()):
            return found
    found = shared_mutables(roots)
    _SCANS.append((roots, found))
    return found


def _roots(base_globals: dict, mods: dict) -> dict:
    roots = dict(base_globals)
    roots.update(mods)
    return roots


def _modules(names) -> dict:
    return {name: sys.modules[name] for name in names if name in sys.modules}


def _settings() -> tuple:
    # numpy's floating-point error handling too: library code that a MemoryError interrupts in an
    # `np.errstate` block (np.linalg sets invalid="call" to raise LinAlgError) may leave it set.
    return (
        sys.getrecursionlimit(),
        len(warnings.filters),
        id(warnings.filters),
        len(gc.callbacks),
        gc.isenabled(),
        tuple(np.geterr().values()),
        np.geterrcall(),
    )


def shared_mutables(roots: dict) -> list[tuple[str, object]]:
    """Mutable containers a program can reach from `roots` through allowed attribute names and
    container elements (the only shared state the verifier lets it touch): [(path, object)]."""
    seen: set[int] = set()
    out: list[tuple[str, object]] = []
    todo = [(name, obj) for name, obj in roots.items() if not name.startswith("_")]
    while todo:
        path, obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, _MUTABLE):
            out.append((path, obj))
        if isinstance(obj, (list, tuple, set, frozenset, collections.deque)):
            todo.extend((f"{path}[{i}]", v) for i, v in enumerate(obj))
        elif isinstance(obj, dict):
            todo.extend((f"{path}[{k!r}]", v) for k, v in obj.items())
        elif isinstance(obj, (types.ModuleType, type)):
            for name in purity.ATTRS:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        v = getattr(obj, name)
                except Exception:  # noqa: BLE001 - absent, or a module __getattr__ refusing
                    continue
                todo.append((f"{path}.{name}", v))
        elif isinstance(obj, types.FunctionType):
            for v in (obj.__defaults__ or ()) + tuple((obj.__kwdefaults__ or {}).values()):
                todo.append((f"{path}(default)", v))
        elif not isinstance(obj, _RIGID):
            # An instance of some other type: mutable only through attribute stores, which the
            # verifier refuses; its attributes are not walked (reading one may run code).
            pass
    return out


def _snapshot(obj):
    if isinstance(obj, np.ndarray):
        return obj.copy()
    if isinstance(obj, dict):
        return dict(obj)
    return type(obj)(obj)


def _same(obj, snap) -> bool:
    if isinstance(obj, np.ndarray):
        return obj.shape == snap.shape and obj.dtype == snap.dtype and bool((obj == snap).all())
    if len(obj) != len(snap):
        return False
    if isinstance(obj, dict):
        return obj.keys() == snap.keys() and all(map(operator.is_, obj.values(), snap.values()))
    if isinstance(obj, (set, frozenset)):
        return obj == snap
    return all(map(operator.is_, obj, snap))
