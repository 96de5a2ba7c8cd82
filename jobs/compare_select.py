"""Choosing runs to overlay without naming each one: by a regex on the job name, or by the sweep
group a sweep's points share. The group is the one a sweep records in every point's spec
(`params.wandb_group`, set by jobs.wandb_files.with_sweep_group for every sweep, W&B on or off, or
given with `-p wandb_group=`); sweeps submitted by older versions without W&B have none, and a name
regex picks their points instead (the names come from one pattern). Shared by the jobs screen and `arcctl compare --plot --match/--group`."""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

from jobs.errors import SpecError


def sweep_group(spec: Any) -> str | None:
    """The sweep group of a spec (a dict, or a JSON string as the registry keeps it)."""
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except ValueError:
            return None
    params = spec.get("params") if isinstance(spec, dict) else None
    group = params.get("wandb_group") if isinstance(params, dict) else None
    return group if isinstance(group, str) and group else None


def name_regex(pattern: str, option: str = "--match") -> re.Pattern[str]:
    """The regex (case-insensitive, searched anywhere in the name); a bad one is one SpecError."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as e:
        raise SpecError(f"{option} {pattern!r}: not a regular expression ({e})") from None


def select_jobs(jobs: Iterable[Any], match: str | None = None, group: str | None = None) -> list[Any]:
    """Registry jobs (with their spec loaded) whose name matches `match` and whose sweep group is
    `group` (each test only when given), oldest first: the order a sweep was submitted in. None
    chosen is one SpecError that says what there is to choose from."""
    jobs = sorted(jobs, key=lambda j: (j.created, j.id))
    rx = name_regex(match) if match is not None else None
    chosen = [
        j for j in jobs if (rx is None or rx.search(j.name)) and (group is None or sweep_group(j.spec_json) == group)
    ]
    if chosen:
        return chosen
    asked = " and ".join(
        x for x in (f"--match {match!r}" if match is not None else "", f"--group {group!r}" if group else "") if x
    )
    if not jobs:
        raise SpecError(f"{asked}: the registry has no jobs")
    if group is not None:
        groups = sorted({g for j in jobs if (g := sweep_group(j.spec_json))})
        known = ", ".join(groups[:8]) if groups else "none recorded"
        raise SpecError(f"{asked}: no job in the registry (sweep groups: {known})")
    newest = ", ".join(j.name for j in reversed(jobs[-5:]))
    raise SpecError(f"{asked}: no job name matches (the newest: {newest})")
