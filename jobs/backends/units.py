"""Memory and time units shared by the Slurm/HTCondor renderers and the recovery policy."""
from __future__ import annotations

import math
import re

from jobs.errors import SpecError

_MEM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.I)
_FACTOR_MB = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def memory_mb(text: str | int | float, field: str = "resources.memory") -> int:
    """'128G' -> 131072, '1.5G' -> 1536, '512M' -> 512. As in HTCondor's request_memory and
    Slurm's --mem, a bare number means megabytes."""
    if isinstance(text, (int, float)):
        return int(math.ceil(text))
    m = _MEM.match(str(text))
    if not m:
        raise SpecError(f"{field}: {text!r} is not a memory size (e.g. 128G, 512M)")
    value, unit = float(m.group(1)), m.group(2).upper()
    factor = 1 if unit == "" else _FACTOR_MB[unit]
    return int(math.ceil(value * factor))


def format_memory(mb: int) -> str:
    """Whole gigabytes when exact ('128G'), megabytes otherwise ('1536M')."""
    return f"{mb // 1024}G" if mb % 1024 == 0 else f"{mb}M"


def time_seconds(text: str, field: str = "resources.time") -> int:
    """Slurm time syntax: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS."""
    m = _TIME.match(text.strip())
    if not m:
        raise SpecError(f"{field}: {text!r} is not a Slurm time (e.g. 2-00:00:00, 04:00:00, 90)")
    days, a, b, c = m.group(1), m.group(2), m.group(3), m.group(4)
    nums = [int(x) for x in (a, b, c) if x is not None]
    if days is not None:
        h, mi, s = (nums + [0, 0])[:3]
        return int(days) * 86400 + h * 3600 + mi * 60 + s
    if len(nums) == 1:
        return nums[0] * 60
    if len(nums) == 2:
        return nums[0] * 60 + nums[1]
    return nums[0] * 3600 + nums[1] * 60 + nums[2]
