"""Collapse warnings in a run dir's events.jsonl, for the tests of how alerts are shown."""

from __future__ import annotations

import json
from pathlib import Path

from jobs.runview import RunView


def collapse_warning(step: int, rule: str, severity: str, first_step: int, message: str, **extra) -> dict:
    """A collapse_warning event with only the fields the alert views read (older guards wrote no more)."""
    event = dict(event="collapse_warning", step=step, rule=rule, severity=severity, first_step=first_step)
    return {**event, **extra, "message": message}


def view_of_events(run: Path, events: list[dict]) -> RunView:
    """A refreshed RunView of a new run dir whose events.jsonl holds `events`."""
    run.mkdir()
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    view = RunView(str(run))
    view.refresh()
    return view
