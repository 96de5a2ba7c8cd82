"""`-p key=v1,v2` overrides: parsed, typed by the kind's params model, expanded to a cartesian
product. Values are typed one by one so `learning_rate=abc` fails naming the key, before any spec
is built. A value starting with `[`, `{` or `"` is read as one JSON value (list/dict parameters, or
a string with commas in it: `-p 'model_path="/data/a,b"'`)."""

from __future__ import annotations

import difflib
import itertools
import json
import math
from functools import lru_cache
from typing import Annotated, Any

from jobs.errors import SpecError
from jobs.params import FINITE_NUMBERS, PARAMS_BY_KIND

RESOURCE_PREFIX = "resources."
MAX_SWEEP_POINTS = 1000  # default cap on the points of one sweep (--max-points overrides it)
_NULLS = {"none", "null"}
_TYPE_TAGS = {"float", "int", "str", "bool", "none", "list[str]"}


def suggest(name: str, candidates) -> str:
    """' (did you mean 'x'?)' or '' — appended to unknown-name errors."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


@lru_cache(maxsize=None)
def _adapter(kind: str, key: str):
    from pydantic import TypeAdapter

    field = PARAMS_BY_KIND[kind].model_fields[key]
    # Annotated keeps the field's constraints (gt=0, ge=1, ...), not just its type.
    ann = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return TypeAdapter(ann, config=FINITE_NUMBERS)


@lru_cache(maxsize=None)
def _resource_adapter(key: str):
    from pydantic import TypeAdapter

    from jobs.spec import Resources

    field = Resources.model_fields[key]
    ann = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return TypeAdapter(ann, config=FINITE_NUMBERS)


def param_names(kind: str) -> list[str]:
    return list(PARAMS_BY_KIND[kind].model_fields)


def check_key(kind: str, key: str, where: str = "") -> None:
    """Unknown parameter (or resources.<x>) -> SpecError with the closest name."""
    if key.startswith(RESOURCE_PREFIX):
        from jobs.spec import Resources

        sub = key[len(RESOURCE_PREFIX) :]
        if sub not in Resources.model_fields:
            raise SpecError(f"{where}unknown resource {sub!r}{suggest(sub, Resources.model_fields)}")
        return
    if kind not in PARAMS_BY_KIND:
        raise SpecError(f"{where}unknown kind {kind!r}{suggest(kind, PARAMS_BY_KIND)}")
    if key not in PARAMS_BY_KIND[kind].model_fields:
        names = param_names(kind) + [RESOURCE_PREFIX + r for r in ("gpus", "cpus", "memory")]
        raise SpecError(f"{where}unknown parameter {key!r} for kind {kind}{suggest(key, names)}")


def coerce(kind: str, key: str, value: Any, where: str = "") -> Any:
    """One value typed by the kind's model (strings from the command line included)."""
    from pydantic import ValidationError

    check_key(kind, key, where)
    if isinstance(value, str) and "\x00" in value:  # no path, name or argument can hold one
        raise SpecError(f"{where}{key}: a NUL character (\\x00) in its value")
    if isinstance(value, str):
        s = value.strip()
        if s.lower() in _NULLS and not _accepts_string(kind, key, s):
            value = None  # "none" stays a string where the parameter has such a choice (scale_rewards)
        elif s[:1] in '[{"':
            try:
                value = json.loads(s)
            except ValueError as e:
                raise SpecError(f"{where}{key}={value}: not valid JSON ({e})") from None
            except RecursionError:  # e.g. 100k `[`: the decoder recurses once per level
                raise SpecError(f"{where}{key}: JSON nested too deeply") from None
    try:
        if key.startswith(RESOURCE_PREFIX):
            adapter = _resource_adapter(key[len(RESOURCE_PREFIX) :])
        else:
            adapter = _adapter(kind, key)
        out = adapter.validate_python(value)
    except ValidationError as e:
        err = e.errors()[0]
        # the key inside a dict parameter (health.kl_max), without pydantic's union-member tags
        inner = [str(x) for x in err.get("loc", ()) if str(x) not in _TYPE_TAGS]
        at = f" ({key}.{'.'.join(inner)})" if inner else ""
        raise SpecError(f"{where}{key}={value!r}: {err['msg'].removeprefix('Value error, ')}{at}") from None
    return _plain(out)


def _accepts_string(kind: str, key: str, s: str) -> bool:
    """True when `s` is one of the parameter's named choices (a Literal), not just any string."""
    if key.startswith(RESOURCE_PREFIX):
        return False
    from pydantic import ValidationError

    adapter = _adapter(kind, key)

    def ok(v: str) -> bool:
        try:
            adapter.validate_python(v)
        except ValidationError:
            return False
        return True

    return ok(s) and not ok("\x00not-a-choice")


def _plain(v: Any) -> Any:
    # Literal/enum values and tuples back to JSON-friendly types.
    if hasattr(v, "value") and not isinstance(v, (int, float, str, bool)):
        return v.value
    return v


def split_values(raw: str) -> list[str]:
    raw = raw.strip()
    if raw[:1] in '[{"':  # one JSON value: a list, a dict, or a string that holds commas
        return [raw]
    return [p.strip() for p in raw.split(",")]


def parse_overrides(items: list[str], kind: str) -> dict[str, list[Any]]:
    """['lr=1e-6,2e-6', 'beta=0.01'] -> {'lr': [1e-6, 2e-6], 'beta': [0.01]} (typed, order kept)."""
    out: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise SpecError(f"-p {item}: expected key=value (values separated by commas for a sweep)")
        key, raw = item.split("=", 1)
        key = key.strip().replace("-", "_") if not key.startswith(RESOURCE_PREFIX) else key.strip()
        if not key:
            raise SpecError(f"-p {item}: empty parameter name")
        if key in out:
            raise SpecError(f"-p {key} given twice; put all values in one -p {key}=v1,v2")
        values = split_values(raw)
        if any(v == "" for v in values):
            raise SpecError(f"-p {item}: empty value")
        out[key] = [coerce(kind, key, v, where="-p ") for v in values]
        _refuse_repeats(key, values, out[key])
    return out


def _refuse_repeats(key: str, raw: list[str], typed: list[Any]) -> None:
    """Two values that type to the same one (`1e-6,0.000001`, `0.1,0.10`) would make two identical
    sweep points: the same training launched twice under two names."""
    from pydantic_core import to_jsonable_python  # typed values may be models (sampling groups)

    seen: dict[str, str] = {}
    for text, value in zip(raw, typed):
        canon = json.dumps(to_jsonable_python(value), sort_keys=True)
        if canon in seen:
            raise SpecError(
                f"-p {key}: {seen[canon]!r} and {text!r} are the same value; "
                "each sweep point would run twice (give each value once)"
            )
        seen[canon] = text


def sweep_size(overrides: dict[str, list[Any]]) -> int:
    return math.prod(len(v) for v in overrides.values())


def check_sweep_size(overrides: dict[str, list[Any]], limit: int | None = None) -> None:
    """A sweep above `limit` points (default MAX_SWEEP_POINTS) is refused before any spec is
    built: each point is a spec, a run dir and a job, so a typo (300x300) would launch 90,000."""
    limit = MAX_SWEEP_POINTS if limit is None else limit
    n = sweep_size(overrides)
    if n > limit:
        shape = " x ".join(f"{len(v)} {k}" for k, v in overrides.items() if len(v) > 1)
        raise SpecError(
            f"-p makes a sweep of {n} points ({shape}), more than the limit of {limit}; "
            f"pass --max-points {n} if you mean it"
        )


def expand(overrides: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Cartesian product, first key varying slowest; {} -> [{}] (one point)."""
    keys = list(overrides)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(overrides[k] for k in keys))]


def swept_keys(overrides: dict[str, list[Any]]) -> list[str]:
    return [k for k, v in overrides.items() if len(v) > 1]
