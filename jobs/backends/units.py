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
        total = int(days) * 86400 + h * 3600 + mi * 60 + s
    elif len(nums) == 1:
        total = nums[0] * 60
    elif len(nums) == 2:
        total = nums[0] * 60 + nums[1]
    else:
        total = nums[0] * 3600 + nums[1] * 60 + nums[2]
    if total == 0:  # Slurm reads --time=0 as "no limit at all", as it reads --mem=0 as "the whole node"
        raise SpecError(f"{field}: {text!r} is no time; give the wall-time limit the job needs (e.g. 04:00:00)")
    if total > MAX_TIME_S:  # Slurm keeps minutes in 32 bits: 99999999:00:00 wraps to another limit
        raise SpecError(f"{field}: {text!r} is more than {MAX_TIME_S // 86400} days; give the limit the job needs")
    return total


MAX_TIME_S = 366 * 86400


def next_memory_request(used_mb: int | None, requested_mb: int | None, factor: float = 1.5) -> int:
    """What to ask for after a memory kill: 1.5x the larger of what was used and what was asked,
    rounded up to whole gigabytes (a 54G job killed at 60G used asks for 90G)."""
    base = max(used_mb or 0, requested_mb or 0)
    if base <= 0:
        raise ValueError("no memory figure to start from")
    return int(math.ceil(base * factor / 1024)) * 1024


def human_memory(mb: int) -> str:
    """For messages: '128G', '128.4G', '512M'."""
    if mb < 1024:
        return f"{mb}M"
    g = mb / 1024
    return f"{g:.0f}G" if mb % 1024 == 0 else f"{g:.1f}G"


def job_argv(spec, spec_path: str, python: str | None = None) -> list[str]:
    """What a job runs. A `command` job runs its program as given (plus params.args): no spec.json
    argument and no accelerate wrapping (it launches itself); `python` still means the profile's
    interpreter. Every other kind is the trainer (trainer_argv)."""
    if spec.kind == "command":
        argv = list(spec.entry) + [str(a) for a in spec.params.get("args", [])]
        if argv and argv[0] in ("python", "python3") and python:
            argv[0] = python
        return argv
    return trainer_argv(spec.entry, spec_path, spec.resources.gpus, python)


def trainer_argv(entry: list[str], spec_path: str, gpus: int, python: str | None = None) -> list[str]:
    """The command a job runs: the spec's entry + its spec.json. `python` (a profile option) names
    the cluster's interpreter; a multi-GPU `python -m …` job goes through accelerate's launcher
    with the same interpreter (as the local backend does)."""
    argv = list(entry) + [spec_path]
    if argv[0] == "python" and python:
        argv[0] = python
    if gpus > 1 and len(argv) > 2 and argv[1] == "-m" and argv[0].rsplit("/", 1)[-1].startswith("python"):
        argv = [
            argv[0],
            "-m",
            "accelerate.commands.launch",
            "--num_processes",
            str(gpus),
            "--num_machines",
            "1",
        ] + argv[1:]
    return argv
