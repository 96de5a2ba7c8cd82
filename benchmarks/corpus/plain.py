"""The unisolated runner of the baselines (a), (b), (c): exec + transform with an alarm.

Kept tiny (numpy and the helper library `trainer.program_library` only) so that (c), a fresh interpreter per
program, pays only for what such a runner really needs.
"""

from __future__ import annotations

import signal
import sys

import numpy as np


class _Alarm(BaseException):
    pass


def _on_alarm(*_):
    raise _Alarm()


_BASE: dict | None = None


def _base_globals() -> dict:
    global _BASE
    if _BASE is None:
        import typing
        import trainer.program_library as common

        sys.modules.setdefault("common", common)
        import builtins

        _BASE = {"np": np, "numpy": np, "common": common, "__builtins__": builtins}
        _BASE.update({k: getattr(typing, k) for k in typing.__all__ if hasattr(typing, k)})
        _BASE.update({k: v for k, v in vars(common).items() if not k.startswith("_")})
    return _BASE


def run_plain(src: str, inputs: list, timeout_s: float):
    """exec + transform on every input with an alarm; ('ok', grids) or (error kind, detail)."""
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        g = dict(_base_globals())
        exec(compile(src, "<program>", "exec"), g)
        outs = []
        for grid in inputs:
            out = np.asarray(g["transform"](np.array(grid)))
            if (
                out.ndim != 2
                or out.dtype.kind not in "iu"
                or min(out.shape) < 1
                or max(out.shape) > 30
                or out.min() < 0
                or out.max() > 9
            ):
                return ("invalid_output", "")
            outs.append(out.tolist())
        return ("ok", outs)
    except _Alarm:
        return ("timeout", "")
    except SyntaxError:
        return ("parse", "")
    except MemoryError:
        return ("memory", "")
    except BaseException as e:  # noqa: BLE001
        return ("exception", type(e).__name__)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
