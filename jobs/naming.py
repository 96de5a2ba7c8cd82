"""Experiment names from a template pattern (what `EXPERIMENT_NAME=lr${LR}_…` shell lines do by hand):
deterministic (same params -> same name), filesystem-safe, and never an existing run dir."""

from __future__ import annotations

import math
import re
import string
import unicodedata
from pathlib import Path
from typing import Any, Callable, Iterable

MAX_LEN = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9._+=-]+")


def pattern_fields(pattern: str) -> list[str]:
    """The parameter names of a name pattern. Only plain `{name}` fields: a format spec
    (`{lr:>99999999999}` allocates that many characters), a conversion, an attribute or an index
    has no use in a folder name."""
    from jobs.errors import TemplateError

    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as e:
        raise TemplateError(f"name pattern {pattern!r}: {e}") from None
    for _, field, spec, conversion in parts:
        if field is not None and (spec or conversion or not field.isidentifier()):
            raise TemplateError(
                f"name pattern {pattern!r}: {{{field}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}} is not a parameter name in braces, like {{learning_rate}}"
            )
    return [f for _, f, _, _ in parts if f]


def fmt_value(v: Any) -> str:
    """Short, stable text for a parameter value: 1e-06 -> 1e-6, 100.0 -> 100, True -> true."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isfinite(v) and v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        if v != 0 and math.isfinite(v) and (abs(v) < 1e-3 or abs(v) >= 1e15):
            mant, exp = f"{v:.12e}".split("e")
            mant = mant.rstrip("0").rstrip(".")
            return f"{mant}e{int(exp)}"
        s = repr(v)
        return re.sub(r"e([+-])0*(\d)", lambda m: "e" + ("-" if m.group(1) == "-" else "") + m.group(2), s)
    if v is None:
        return "none"
    if isinstance(v, (list, tuple)):
        return "-".join(fmt_value(x) for x in v)
    if isinstance(v, dict):
        return "-".join(f"{k}{fmt_value(x)}" for k, x in sorted(v.items()))
    return str(v)


def safe(name: str) -> str:
    """Only [A-Za-z0-9._+=-]; no leading dot or dash; bounded length."""
    s = re.sub(r"-{2,}", "-", _UNSAFE.sub("-", name))
    s = re.sub(r"^[.-]+", "", s).rstrip("-")  # '../x' -> 'x', not '-x' (an option to every shell tool)
    return s[:MAX_LEN] or "run"


def render_name(pattern: str, params: dict[str, Any], extra: Iterable[str] = ()) -> str:
    """The pattern filled with formatted params; `extra` keys (swept but not in the pattern) are
    appended as _<key><value> so every sweep point gets a telling, distinct name."""
    from jobs.errors import TemplateError

    fields = set(pattern_fields(pattern))
    unknown = sorted(fields - set(params))
    if unknown:
        raise TemplateError(f"name pattern {pattern!r} uses unknown parameter '{unknown[0]}'")
    try:
        name = pattern.format(**{k: fmt_value(params.get(k)) for k in fields})
    except (KeyError, IndexError, ValueError) as e:
        raise TemplateError(f"name pattern {pattern!r}: {e}") from None
    for k in extra:
        if k not in fields:
            name += f"_{k}{fmt_value(params.get(k))}"
    return safe(name)


def unique_name(root: str | Path, name: str, taken: Callable[[str], bool] | None = None) -> str:
    """`name`, or name-2, name-3, ... : the first whose run dir does not exist under root and is
    not `taken` (e.g. already in the registry or earlier in the same sweep)."""
    root = Path(root)
    n = 1
    while True:
        cand = name if n == 1 else f"{name}-{n}"
        if not (root / cand).exists() and not (taken and taken(str(root / cand))):
            return cand
        n += 1


def _bad_char(text: str) -> str | None:
    """The first character a name may not hold: C0/DEL/C1 controls split or rewrite terminal
    lines; Unicode format characters (bidi overrides and isolates, zero-width) make a name show
    as another one (`arcctl ls`, job scripts, logs)."""
    for c in text:
        o = ord(c)
        if o < 32 or 127 <= o <= 159 or unicodedata.category(c) == "Cf":
            return c
    return None


def check_run_dir(path: str, what: str = "run dir") -> None:
    """A newline or other control character in a run dir would split the lines of job scripts,
    logs and `arcctl ls`: refused."""
    from jobs.errors import SpecError

    if not path.strip():  # `--run-dir "$UNSET"`: not the default run dir without a word
        raise SpecError(f"{what} {path!r}: empty; give a folder (or leave the option out for the default)")
    bad = _bad_char(path)
    if bad is not None:
        raise SpecError(
            f"{what} {path!r}: holds U+{ord(bad):04X} ({unicodedata.name(bad, 'a control character')}); "
            "control characters (newline, tab, C1) and invisible format characters (bidi overrides, "
            "zero-width) are not allowed"
        )
    # Linux's limits (NAME_MAX, PATH_MAX): past them every stat of the path fails
    long = next((part for part in path.split("/") if len(part.encode("utf-8", "surrogateescape")) > 255), None)
    if long is not None:
        raise SpecError(f"{what} {path[:80]!r}...: the folder name {long[:40]!r}... is longer than 255 bytes")
    if len(path.encode("utf-8", "surrogateescape")) > 4095:
        raise SpecError(f"{what} {path[:80]!r}...: longer than 4095 bytes")


def check_name(name: str, what: str = "--name") -> None:
    """An explicit run name is one folder name inside the runs root, never a path out of it."""
    from jobs.errors import SpecError

    if not name.strip() or "/" in name or "\\" in name or name.strip() in (".", ".."):
        raise SpecError(f"{what} {name!r}: a run name is one folder name (not empty, '.', '..', nor containing '/')")
    check_run_dir(name, what)


_LAUNCHERS = {
    "python",
    "python3",
    "accelerate",
    "launch",
    "torchrun",
    "srun",
    "mpirun",
    "deepspeed",
    "uv",
    "run",
    "env",
    "bash",
    "sh",
    "-m",
    "-c",
}


def command_name(argv: list[str]) -> str:
    """A run name for a `command` job: its script or program, past launchers and options
    (`accelerate launch --num_processes 2 finetuning.py --lr 1e-5` -> finetuning)."""
    words = [w for w in argv if w and not w.startswith("-") and Path(w).name not in _LAUNCHERS and "=" not in w]
    scripts = [w for w in words if w.endswith((".py", ".sh"))]
    pick = (scripts or words or [""])[0]
    if not pick:
        return ""
    return safe(Path(pick).stem if pick in scripts else Path(pick).name)
