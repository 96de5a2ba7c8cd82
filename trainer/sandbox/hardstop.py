"""A kernel timer that ends the fast-path worker when a program outlives its limit in C code.

The fast path's timer (`inline`) raises in Python code only: the interpreter runs a Python signal
handler between bytecodes, so C code that never returns (`sum(range(10**12))`, `10**10**8`, an
einsum over huge operands) ignored it and held the worker until the parent's deadline
(`timeout_s` + 1.5 s). A POSIX timer on CLOCK_MONOTONIC sends `SIGNAL` at the deadline whatever
the process is doing; its action is the default one (the process ends, no core dump), which the
parent reads from the exit status as `timeout`. Nothing else sends it: programs may not signal
(seccomp, the verifier), and only a fast-path worker arms this timer.
"""

from __future__ import annotations

import ctypes
import signal

SIGNAL = signal.SIGVTALRM  # default action: terminate, no core dump
_CLOCK_MONOTONIC = 1
_SIGEV_SIGNAL = 0


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class _Sigevent(ctypes.Structure):
    # glibc's layout on 64-bit Linux: value (a union of int and pointer), signo, notify, then
    # padding to 64 bytes.
    _fields_ = [
        ("sigev_value", ctypes.c_void_p),
        ("sigev_signo", ctypes.c_int),
        ("sigev_notify", ctypes.c_int),
        ("_pad", ctypes.c_int * 12),
    ]


class HardStop:
    """One timer per process; `arm(s)` replaces any earlier deadline, `disarm()` cancels it.
    Built before the program's audit hook is active: a foreign call raises an audit event, which
    the hook would count against a running program, so arm and disarm run outside `_State.active`."""

    def __init__(self):
        libc = ctypes.CDLL(None, use_errno=True)
        self._settime = libc.timer_settime
        self._settime.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        ev = _Sigevent(sigev_signo=SIGNAL, sigev_notify=_SIGEV_SIGNAL)
        self._id = ctypes.c_void_p()
        if libc.timer_create(_CLOCK_MONOTONIC, ctypes.byref(ev), ctypes.byref(self._id)) != 0:
            raise OSError(ctypes.get_errno(), "timer_create")
        signal.signal(SIGNAL, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [SIGNAL])
        self._off = _Itimerspec()
        self._on = _Itimerspec()

    def arm(self, seconds: float) -> None:
        sec = int(seconds)
        self._on.it_value.tv_sec, self._on.it_value.tv_nsec = sec, max(1, int((seconds - sec) * 1e9))
        if self._settime(self._id, 0, ctypes.byref(self._on), None) != 0:
            raise OSError(ctypes.get_errno(), "timer_settime")

    def disarm(self) -> None:
        self._settime(self._id, 0, ctypes.byref(self._off), None)

    def close(self) -> None:
        ctypes.CDLL(None).timer_delete(self._id)


def available() -> str:
    """'' if a timer can be made here (checked once, in the zygote), else why not."""
    try:
        HardStop().close()
    except (OSError, AttributeError) as e:
        return f"{type(e).__name__}: {e}"
    return ""
