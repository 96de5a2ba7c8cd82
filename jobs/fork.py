"""New specs from existing runs: `resume_spec` continues a run in its own run dir from a
checkpoint; `fork_spec` starts a new run (new name, new run dir next to the parent) from a
parent's checkpoint with some parameters changed, instead of copying a checkpoint into a new
folder by hand.

A fork records `parent` and sets `resume_from` to the same checkpoint: the trainer continues from
those weights and trainer state, with the changed parameters, writing into the new run dir.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jobs.errors import SpecError
from jobs.rundir import LocalFS, RunFS, pick_checkpoint
from jobs.spec import CheckpointRef, JobSpec


def _pick_checkpoint(run_dir: str, checkpoint: str | None, fs: RunFS, required: bool) -> str | None:
    ck = pick_checkpoint(run_dir, checkpoint, fs, required)
    return ck.name if ck else None


def _read_spec(run_dir: str, fs: RunFS) -> JobSpec:
    path = f"{run_dir.rstrip('/')}/spec.json"
    try:
        text = fs.read_text(path)
        if text.startswith("\ufeff"):  # an editor's byte-order mark: no JSON reader of the run dir takes it
            raise SpecError(f"{path}: starts with a byte-order mark (not JSON: save it as UTF-8 without one)")
        return JobSpec.from_json(text)
    except FileNotFoundError:
        raise SpecError(f"{path}: not found (is {run_dir} an arcctl run dir?)") from None
    except OSError as e:
        raise SpecError(f"{path}: {e}") from None
    except ValueError as e:
        raise SpecError(f"{path}: not a valid spec ({_problems(e)})") from None


def _problems(e: ValueError) -> str:
    """What is wrong with a spec.json, in one line: `field: problem; …` (a JSON array, a file
    nested past the parser's depth and a byte-order mark each say so) rather than pydantic's
    count of errors."""
    from pydantic import ValidationError

    if not isinstance(e, ValidationError):
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    errs = e.errors()
    parts = [f"{'.'.join(str(x) for x in err['loc']) or 'the file'}: {err['msg']}" for err in errs[:3]]
    return "; ".join(parts) + (f"; … {len(errs) - 3} more" if len(errs) > 3 else "")


def resume_spec(run_dir: str, checkpoint: str | None = None, fs: RunFS | None = None) -> JobSpec:
    """The run's own spec with resume_from = (run_dir, checkpoint or the newest valid one)."""
    fs = fs or LocalFS()
    spec = _read_spec(run_dir, fs)
    ck = _pick_checkpoint(run_dir, checkpoint, fs, required=checkpoint is not None)
    data = spec.model_dump()
    data["resume_from"] = CheckpointRef(run_dir=run_dir, checkpoint=ck, name=spec.name) if ck else None
    data["created"] = datetime.now(timezone.utc)
    return JobSpec.model_validate(data)


def fork_name(parent: JobSpec, checkpoint: str | None, overrides: dict[str, Any]) -> str:
    from jobs.naming import fmt_value, safe

    step = checkpoint.split("-", 1)[1] if checkpoint else "0"
    changes = "".join(f"_{k.split('.')[-1]}{fmt_value(v)}" for k, v in overrides.items())
    return safe(f"{parent.name}_fork{step}{changes}")


def fork_spec(
    parent_run_dir: str,
    checkpoint: str | None = None,
    overrides: dict[str, Any] | None = None,
    fs: RunFS | None = None,
    name: str | None = None,
    taken=None,
) -> JobSpec:
    """A new run from `parent_run_dir`'s checkpoint (None: newest valid; none at all: from the
    start, with only the parameters changed). `overrides` are params (or `resources.<x>`), typed
    like `-p` values. The new run dir sits next to the parent's, never on an existing one."""
    from jobs.naming import check_name, unique_name
    from jobs.sweep import RESOURCE_PREFIX, coerce

    if name is not None:
        check_name(name)
    fs = fs or LocalFS()
    overrides = dict(overrides or {})
    parent = _read_spec(parent_run_dir, fs)
    ck = _pick_checkpoint(parent_run_dir, checkpoint, fs, required=checkpoint is not None)
    typed = {k: coerce(parent.kind, k, v, where="fork: ") for k, v in overrides.items()}
    params = dict(parent.params)
    resources = parent.resources.model_dump()
    for k, v in typed.items():
        if k.startswith(RESOURCE_PREFIX):
            resources[k[len(RESOURCE_PREFIX) :]] = v
        else:
            params[k] = v
    root = str(Path(parent_run_dir.rstrip("/")).parent)
    base = name or fork_name(parent, ck, typed)
    new_name = unique_name(root, base, taken) if isinstance(fs, LocalFS) else base
    ref = CheckpointRef(run_dir=parent_run_dir, checkpoint=ck, name=parent.name)
    data = parent.model_dump()
    data.update(
        name=new_name,
        params=params,
        resources=resources,
        run_dir=f"{root}/{new_name}",
        parent=ref,
        resume_from=ref if ck else None,
        created=datetime.now(timezone.utc),
    )
    try:
        return JobSpec.model_validate(data)
    except ValueError as e:
        raise SpecError(f"fork of {parent_run_dir}: {str(e).splitlines()[0]}") from None
