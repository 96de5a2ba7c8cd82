"""The Weights & Biases side of a run dir: what the trainer writes, what `arcctl wandb-sync` reads.

  wandb-run.json   {"id", "project", "entity", "group"}: the W&B run this run dir logs to, written
                   when the run first starts. A requeue or `arcctl resume` (same run dir) reads the
                   id back, so W&B continues the same run; a fork or rollback child (a new run dir)
                   gets its own id and names its parent's in its config.
  wandb/           wandb's own folder; an offline run is wandb/offline-run-<time>-<id>/, one per
                   start of the job, all with the same id (`wandb sync` uploads them in order).

Pure Python: nothing here imports wandb.
"""

from __future__ import annotations

import re
import secrets
import string
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobs.errors import SpecError
from jobs.rundir import LocalFS, RunFS

RUN_FILE = "wandb-run.json"
WANDB_DIR = "wandb"
DEFAULT_PROJECT = "arcctl"
RUN_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# wandb adds -1, -2... to the folder of a start in the same second as the one before
_OFFLINE = re.compile(r"^offline-run-(\d{8}_\d{6})-([A-Za-z0-9_-]{1,64}?)(?:-(\d+))?$")
# The spec fields that stay out of the W&B config: a profile's environment and backend options may
# hold tokens (HF_TOKEN, WANDB_API_KEY) and nothing in them is an experiment's setting.
PRIVATE_SPEC_FIELDS = {"env", "backend_options"}


class WandbRun(BaseModel):
    """The W&B run of a run dir (wandb-run.json)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(pattern=RUN_ID_PATTERN)
    project: str | None = None
    entity: str | None = None
    group: str | None = None


def new_run_id() -> str:
    """8 random base-36 characters, the form of the ids wandb generates itself."""
    chars = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(chars) for _ in range(8))


def read_run(run_dir: str | Path, fs: RunFS | None = None) -> WandbRun | None:
    """The run dir's W&B run, or None when it never started one."""
    fs = fs or LocalFS()
    path = f"{str(run_dir).rstrip('/')}/{RUN_FILE}"
    try:
        text = fs.read_text(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SpecError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        return WandbRun.model_validate_json(text)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err.get("loc", ())) or "file"
        raise SpecError(
            f"{path}: not a W&B run record ({where}: {err.get('msg')}); delete it to start a new W&B run"
        ) from None


def write_run(run_dir: str | Path, run: WandbRun) -> None:
    """Atomically (a killed job never leaves half a file that would change the id)."""
    path = Path(run_dir) / RUN_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(run.model_dump_json() + "\n")
    tmp.replace(path)


def run_config(spec: Any) -> dict[str, Any]:
    """The W&B config of a run: its spec (parameters, resources, template, parent...), without the
    fields that may hold secrets. A fork or rollback child names its parent's W&B run id."""
    config = spec.model_dump(mode="json", exclude=PRIVATE_SPEC_FIELDS)
    if spec.parent is not None:
        try:
            parent = read_run(spec.parent.run_dir)
        except SpecError:
            parent = None  # the parent's record is unreadable: the child still names its run dir
        if parent is not None:
            config["parent"]["wandb_run_id"] = parent.id
    return config


def sweep_group(pattern: str, params: dict[str, Any], swept: dict[str, list[Any]]) -> str:
    """The W&B group a sweep's points share: the name pattern with every swept parameter shown
    with all its values (lr 1e-6 and 2e-6 -> `lr1e-6-2e-6`)."""
    from jobs.naming import render_name

    return render_name(pattern, {**params, **swept}, extra=list(swept))[:128]


def with_sweep_group(kind: str, pattern: str, params: dict[str, Any], swept: dict[str, list[Any]]) -> dict[str, Any]:
    """A sweep point's params: without a wandb_group of its own, the sweep's group. Recorded with
    W&B off too: the console selects a sweep's points by it (`g`, `arcctl compare --group`)."""
    from jobs.params import PARAMS_BY_KIND

    if not swept or params.get("wandb_group") or "wandb_group" not in PARAMS_BY_KIND[kind].model_fields:
        return params
    return {**params, "wandb_group": sweep_group(pattern, params, swept)}


def offline_runs(run_dir: str, fs: RunFS | None = None) -> list[str]:
    """The offline W&B runs under run_dir/wandb (full paths), oldest first."""
    fs = fs or LocalFS()
    folder = f"{run_dir.rstrip('/')}/{WANDB_DIR}"
    try:
        names = fs.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as e:
        raise SpecError(f"{folder}: cannot list ({e.strerror or e})") from None
    found = sorted((m.group(1), int(m.group(3) or 0), name) for name in names if (m := _OFFLINE.match(name)))
    return [f"{folder}/{name}" for *_, name in found]


def sync_command(offline: list[str], dry_run: bool = False) -> list[str]:
    """`wandb sync` of these offline run folders: one run's folders (same id) upload in order."""
    return ["wandb", "sync", *(["--dry-run"] if dry_run else []), *offline]
