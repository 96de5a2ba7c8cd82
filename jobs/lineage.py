"""Runs linked by rollbacks: a collapsed run's `rollback` event names the child run dir the same
trainer process went on in. The trainer follows these links (a requeued job continues in the
newest child, not in the collapsed parent); the console shows them as a chain.
"""

from __future__ import annotations

from jobs import rundir
from jobs.rundir import LocalFS, RunFS

MAX_CHAIN = 100  # a cycle in the links must not hang a reader


def _events(run_dir: str, fs: RunFS) -> list[dict]:
    return rundir.read_jsonl(f"{run_dir.rstrip('/')}/{rundir.EVENTS}", fs)


def child_in_events(events: list) -> str | None:
    """The child run dir the newest `continued` rollback event names (None: no such event, or it
    names no folder). Shared by the trainer's reading of a run dir and the console's events in memory."""
    for ev in reversed(events):
        if isinstance(ev, dict) and ev.get("event") == rundir.EV_ROLLBACK and ev.get("status") == "continued":
            child = ev.get("child_run_dir")
            return child.rstrip("/") if isinstance(child, str) and child.strip("/") else None
    return None


def rollback_child(run_dir: str, fs: RunFS | None = None) -> str | None:
    """The child run dir this run rolled back into (status `continued`), if it has a spec.json."""
    fs = fs or LocalFS()
    child = child_in_events(_events(run_dir, fs))
    return child if child is not None and fs.exists(f"{child}/{rundir.SPEC}") else None


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
            e.get("event") == rundir.EV_ROLLBACK and str(e.get("child_run_dir", "")).rstrip("/") == current
            for e in _events(parent, fs)
        ):
            count += 1
        current = parent
    return count
