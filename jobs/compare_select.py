"""Choosing runs to overlay without naming each one: by a regex on the job name, or by the sweep
group a sweep's points share. The group is the one a sweep records in every point's spec
(`params.wandb_group`, set by jobs.wandb_files.with_sweep_group for every sweep, W&B on or off, or
given with `-p wandb_group=`); sweeps submitted by older versions without W&B have none, and a name
regex picks their points instead (the names come from one pattern). Shared by the jobs screen and `arcctl compare --plot --match/--group`."""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterable

import regex  # the `re` API with a timeout: a name regex is typed by a person, `(a|aa)+$` freezes `re`

from jobs.errors import SpecError

# All the names one regex is tried on share this many seconds; past it the regex is refused.
MATCH_BUDGET_S = 1.0


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


def _quoted(pattern: str) -> str:
    """The pattern as an error quotes it: a pasted 100,000-character one is cut (a toast, a line)."""
    return repr(pattern) if len(pattern) <= 200 else f"{pattern[:200]!r}… ({len(pattern)} characters)"


class SlowRegex(SpecError):
    """A name regex that backtracks for longer than MATCH_BUDGET_S over the names."""


def name_regex(pattern: str, option: str = "--match") -> regex.Pattern[str]:
    """The regex (case-insensitive, searched anywhere in the name); a bad one is one SpecError."""
    try:
        return regex.compile(pattern, regex.IGNORECASE)
    except (regex.error, OverflowError, RecursionError, ValueError) as e:
        raise SpecError(f"{option} {_quoted(pattern)}: not a regular expression ({e})") from None


def name_searcher(rx: regex.Pattern[str], option: str, budget_s: float = MATCH_BUDGET_S) -> Callable[[str], bool]:
    """rx.search as a test on names that shares one time budget from now: a regex that backtracks
    too long (on one long name or over many) is one SlowRegex, not a frozen console."""
    deadline = time.monotonic() + budget_s

    def search(text: str) -> bool:
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            return rx.search(text, timeout=left) is not None
        except TimeoutError:
            raise SlowRegex(
                f"{option} {_quoted(rx.pattern)}: the regex backtracks for more than {budget_s:g} s over the job names "
                "(nested repeats such as (a+)+); write it without them"
            ) from None

    return search


def select_jobs(jobs: Iterable[Any], match: str | None = None, group: str | None = None) -> list[Any]:
    """Registry jobs (with their spec loaded) whose name matches `match` and whose sweep group is
    `group` (each test only when given), oldest first: the order a sweep was submitted in. None
    chosen is one SpecError that says what there is to choose from."""
    jobs = sorted(jobs, key=lambda j: (j.created, j.id))
    hit = name_searcher(name_regex(match), "--match") if match is not None else None
    chosen = [j for j in jobs if (group is None or sweep_group(j.spec_json) == group) and (hit is None or hit(j.name))]
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
