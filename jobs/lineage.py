"""Runs linked by rollbacks: a collapsed run's `rollback` event names the child run dir the same
trainer process went on in. The trainer follows these links (a requeued job continues in the
newest child, not in the collapsed parent); the console shows them as a chain.
"""

from __future__ import annotations

import os
from typing import Any

from jobs import rundir
from jobs.errors import quoted
from jobs.rundir import LocalFS, RunFS

MAX_CHAIN = 100  # a cycle in the links must not hang a reader


def _events(run_dir: str, fs: RunFS) -> list[dict]:
    return rundir.read_jsonl(f"{run_dir.rstrip('/')}/{rundir.EVENTS}", fs)


def _parent_of(run_dir: str) -> str:
    run_dir = run_dir.rstrip("/") or "/"
    return run_dir.rsplit("/", 1)[0] if "/" in run_dir else "."


def child_beside(run_dir: str, named: Any) -> tuple[str | None, str]:
    """(child run dir, "") for a rollback event's `child_run_dir`, or (None, why not).

    The guard writes the child beside its parent (jobs.fork: the parent's folder + the child's
    name), so only the last part of the name is used and the child is looked for beside RUN_DIR:
    an event naming `../../x`, `/home/other/run` or a link elsewhere must not send the trainer (a
    requeue goes on in the child) or the console into another folder. This also finds the child
    of a run dir opened by another path (a linked runs root, a relative path) than the trainer's."""
    if not isinstance(named, str) or not named.strip("/"):
        return None, ""
    parts = named.rstrip("/").split("/")
    name = parts[-1]
    if ".." in parts or name in ("", ".") or "\x00" in named:
        return None, f"child_run_dir {quoted(named)} is no folder beside the run"
    child = f"{_parent_of(run_dir)}/{name}"
    if child.rstrip("/") == run_dir.rstrip("/"):
        return None, f"child_run_dir {quoted(named)} is the run itself"
    return child, ""


def child_in_events(events: list, run_dir: str) -> str | None:
    """The child run dir beside RUN_DIR that its newest `continued` rollback event names (None: no
    such event, or it names no folder beside the run: child_beside). Shared by the trainer's
    reading of a run dir and the console's events in memory."""
    return child_event(events, run_dir)[0]


def child_event(events: list, run_dir: str) -> tuple[str | None, str]:
    """child_in_events with the reason an event's child is not followed ("" when none)."""
    for ev in reversed(events):
        if isinstance(ev, dict) and ev.get("event") == rundir.EV_ROLLBACK and ev.get("status") == "continued":
            return child_beside(run_dir, ev.get("child_run_dir"))
    return None, ""


def linked(child: str, fs: RunFS | None) -> bool:
    """CHILD, on this machine, is a link (the guard writes a folder): not followed. Over SFTP the
    host's own user wrote the folder beside the run."""
    fs = getattr(fs, "inner", fs)  # a SerializedFS around this machine's
    return isinstance(fs, LocalFS) and os.path.islink(child)


def rollback_problem(run_dir: str, fs: RunFS | None = None) -> str:
    """Why the newest `continued` rollback event of RUN_DIR is not followed ("" when it is, when
    there is none or its child has no spec.json yet), for the trainer's one line."""
    fs = fs or LocalFS()
    child, why = child_event(_events(run_dir, fs), run_dir)
    if child is not None and linked(child, fs):
        why = f"child_run_dir {quoted(child)} is a link, not the folder the guard writes"
    return why


def rollback_child(run_dir: str, fs: RunFS | None = None) -> str | None:
    """The child run dir this run rolled back into (status `continued`), if it has a spec.json."""
    fs = fs or LocalFS()
    child = child_in_events(_events(run_dir, fs), run_dir)
    if child is None or linked(child, fs):
        return None
    return child if fs.exists(f"{child}/{rundir.SPEC}") else None


def rollback_chain(run_dir: str, fs: RunFS | None = None) -> list[str]:
    """This run dir followed by each rollback child in turn; the last one is where training goes on."""
    fs = fs or LocalFS()
    chain = [run_dir.rstrip("/")]
    while len(chain) < MAX_CHAIN:
        child = rollback_child(chain[-1], fs)
        if child is None or child in chain:
            break
        chain.append(child)
    return chain


def rollbacks_in_ancestry(run_dir: str, fs: RunFS | None = None) -> int:
    """How many rollbacks led to this run: walk `parent` links (spec.json) and count each parent
    whose events.jsonl records a rollback into the child we came from."""
    from jobs.spec import JobSpec

    fs = fs or LocalFS()
    count, current, seen = 0, run_dir.rstrip("/"), set()
    while current not in seen and len(seen) < MAX_CHAIN:
        seen.add(current)
        try:
            spec = JobSpec.from_json(fs.read_text(f"{current}/{rundir.SPEC}"))
        except (OSError, ValueError):
            break
        if spec.parent is None:
            break
        parent = spec.parent.run_dir.rstrip("/")
        if any(
            e.get("event") == rundir.EV_ROLLBACK and child_beside(parent, e.get("child_run_dir"))[0] == current
            for e in _events(parent, fs)
        ):
            count += 1
        current = parent
    return count
