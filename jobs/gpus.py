"""The GPUs of this machine through NVML (the nvidia-ml-py distribution, imported as `pynvml`):
what the local backend schedules jobs on, least-used first.

nvidia-ml-py is pure Python and installs everywhere; NVML itself is a library of the NVIDIA driver,
so on a machine without the driver (a CPU-only laptop, CI) it cannot start. That is not an error
for the local backend: such a machine has no GPUs and runs CPU jobs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass
class Gpu:
    index: str
    memory_used: float = 0.0  # MiB
    memory_total: float = 0.0  # MiB
    util: float = 0.0  # percent
    name: str = ""


class NvmlUnavailable(RuntimeError):
    """NVML cannot be used here; the message says why (no nvidia-ml-py, no NVIDIA driver)."""


def nvml_gpus() -> list[Gpu]:
    """Every GPU NVML sees, with its memory use and utilisation; NvmlUnavailable when NVML cannot
    start or cannot list them."""
    try:
        import pynvml
    except ImportError:  # a dependency, but an environment assembled by hand may lack it
        raise NvmlUnavailable("nvidia-ml-py is not installed (pip install nvidia-ml-py)") from None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as e:
        raise NvmlUnavailable(f"NVML cannot start: {e} (is the NVIDIA driver installed?)") from None
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            try:
                util = float(pynvml.nvmlDeviceGetUtilizationRates(h).gpu)
            except pynvml.NVMLError:  # not reported for MIG slices and some boards
                util = 0.0
            name = pynvml.nvmlDeviceGetName(h)
            out.append(
                Gpu(
                    str(i),
                    mem.used / 2**20,
                    mem.total / 2**20,
                    util,
                    name.decode() if isinstance(name, bytes) else str(name),
                )
            )
        return out
    except pynvml.NVMLError as e:  # a GPU fallen off the bus, a driver/library mismatch
        raise NvmlUnavailable(f"NVML cannot list the GPUs: {e}") from None
    finally:
        pynvml.nvmlShutdown()


def detect_gpus() -> list[Gpu]:
    """The GPUs of this machine; [] where NVML cannot start (no driver: CPU jobs only)."""
    try:
        return nvml_gpus()
    except NvmlUnavailable:
        return []


def visible_gpus(raw: Any) -> list[str] | None:
    """`visible_gpus` as CUDA_VISIBLE_DEVICES entries: indices or GPU/MIG UUIDs, each once (a GPU
    listed twice was given to one job twice, or to two jobs at once)."""
    if raw is None:
        return None
    items = raw.split(",") if isinstance(raw, str) else raw if isinstance(raw, list) else None
    ok = items is not None and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in items)
    out = [str(v).strip() for v in items or [] if str(v).strip()] if ok else []
    bad = [v for v in out if not re.fullmatch(r"\d+|(GPU|MIG)-[\w/-]+", v)]
    if not ok or bad or len(set(out)) != len(out):
        from jobs.backends.base import BackendError

        raise BackendError(
            f"local profile: [options] visible_gpus = {raw!r}: give GPU indices or UUIDs, each once "
            '(e.g. "0,1" or [0, 1])'
        )
    return out
