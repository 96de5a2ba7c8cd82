"""Several runs of one metric on shared axes: what the compare screen and `arcctl compare --plot`
draw. Headless (no Textual, no plotting library): lines, legends and markers as plain data.

- A fork or rollback child resumes from its parent's checkpoint-N, so its rows start after N; its
  line is drawn as one chain: each ancestor's rows up to the step the next run forked from, then
  the run's own rows, with the fork steps marked.
- A run the guard rolled back (its `rollback` event names the child run dir the same job went on
  in; the child is no registry row) is drawn as the chain of its newest rollback child: choosing
  the job shows where its training went, with each rollback step marked apart from forks. The
  rows each rolled-back run wrote after the checkpoint it went back to (the collapse that made the
  guard act) are a line of their own (`rolled_back`), with their alerts marked.
- Legends name the parameters that differ between the runs (`learning_rate=2e-06 beta=0.02`),
  else the run names.
- Markers: checkpoint saves and alert steps (at the severity reached at each).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from jobs.lineage import child_beside, child_in_events, linked
from jobs.masked_steps import is_masked_metric, with_breaks
from jobs.rundir import checkpoint_step, json_step

MAX_CHAIN = 50  # parent links followed at most (a cycle must not hang the screen)


@dataclass
class Segment:
    """Rows of one run within (lo, hi]: lo is the step its parent forked at (None: from the start)."""

    view: Any  # jobs.runview.RunView (or anything with .metrics, .events, .spec, .alerts())
    lo: float | None = None
    hi: float | None = None
    rollback: bool = False  # the link at lo is a guard rollback (the parent's event names this run)


@dataclass
class Line:
    label: str
    xs: list[float]
    ys: list[float]
    fork_steps: list[float] = field(default_factory=list)
    rollback_steps: list[float] = field(default_factory=list)
    rolled_back: bool = False  # rows a rollback went back from: drawn beside the chain, not on it
    run: int = 0  # the index of the run (of `views`) this line belongs to: a rolled-back part shares its colour


@dataclass
class Markers:
    checkpoints: list[float] = field(default_factory=list)
    alerts: list[tuple[float, str]] = field(default_factory=list)  # (step, severity)


def _norm(run_dir: Any) -> str:
    return str(run_dir).rstrip("/")


def rollback_child(view: Any) -> str | None:
    """The child run dir the view's newest `continued` rollback event names, read as jobs.lineage
    reads it, from the events the view already holds (no I/O here)."""
    return child_in_events(getattr(view, "events", None) or [], _norm(getattr(view, "run_dir", "")))


def rollback_tip(view: Any, view_for: Callable[[str], Any] | None) -> Any:
    """The newest run of the view's rollback chain (the view itself when it never rolled back or
    its child cannot be read: a child without spec.json is no run yet)."""
    tip, seen = view, {_norm(getattr(view, "run_dir", id(view)))}
    while view_for is not None and len(seen) < MAX_CHAIN:
        child = rollback_child(tip)
        if child is None or child in seen or linked(child, getattr(tip, "fs", None)):
            break
        try:
            cview = view_for(child)
        except Exception:  # noqa: BLE001 - an unreadable child ends the chain where it is
            break
        if cview is None or not cview.spec:
            break
        seen.add(child)
        tip = cview
    return tip


def _rolled_back_into(parent: Any, child_dir: str) -> bool:
    return any(
        isinstance(ev, dict)
        and ev.get("event") == "rollback"
        and ev.get("status") == "continued"
        and child_beside(_norm(getattr(parent, "run_dir", "")), ev.get("child_run_dir"))[0] == child_dir
        for ev in getattr(parent, "events", None) or []
    )


def chain(view: Any, view_for: Callable[[str], Any] | None) -> list[Segment]:
    """The run and its ancestors (spec.parent), oldest first, each cut at the fork step."""
    segs = [Segment(view)]
    seen = {str(getattr(view, "run_dir", id(view))).rstrip("/")}
    while view_for is not None and len(segs) < MAX_CHAIN:
        spec = segs[0].view.spec or {}
        parent = spec.get("parent") if isinstance(spec, dict) else None
        if not isinstance(parent, dict) or not isinstance(parent.get("run_dir"), str):
            break
        pdir = parent["run_dir"].rstrip("/")
        step = checkpoint_step(parent.get("checkpoint"))
        if pdir in seen or step is None:
            break
        try:
            pview = view_for(pdir)
        except Exception:  # noqa: BLE001 - a parent that cannot be read ends the chain
            break
        if pview is None:
            break
        seen.add(pdir)
        segs[0].lo = float(step)
        segs[0].rollback = _rolled_back_into(pview, _norm(getattr(segs[0].view, "run_dir", "")))
        segs.insert(0, Segment(pview, hi=float(step)))
    return segs


def rolled_back_tails(segs: Sequence[Segment]) -> list[Segment]:
    """The rows after the checkpoint of each run in the chain that the guard rolled back: the chain
    leaves a rolled-back run at the checkpoint it went back to, but what the run did next (the
    collapse) is why the chain goes on elsewhere, so it is drawn too."""
    return [Segment(a.view, lo=a.hi) for a, b in zip(segs, segs[1:]) if b.rollback and a.hi is not None]


def chain_series(
    segs: Sequence[Segment], metric: str, width: int, smoothing: float = 0.0
) -> tuple[list[float], list[float]]:
    """The chain's points of `metric`, downsampled per segment to its share of `width`."""
    spans = []
    for s in segs:
        steps = s.view.metrics.steps
        if not len(steps):
            spans.append(0.0)
            continue
        lo = s.lo if s.lo is not None else steps[0]
        hi = s.hi if s.hi is not None else steps[-1]
        spans.append(max(0.0, hi - lo))
    total = sum(spans) or 1.0
    xs: list[float] = []
    ys: list[float] = []
    for s, span in zip(segs, spans):
        rng = (s.lo + 0.5 if s.lo is not None else -math.inf, s.hi if s.hi is not None else math.inf)
        w = max(2, int(width * span / total)) if len(segs) > 1 else width
        x, y = s.view.metrics.series(metric, width=w, smoothing=smoothing, step_range=rng)
        if is_masked_metric(metric):  # no line drawn through steps TRL could not measure
            x, y = with_breaks(x, y, s.view.metrics.masked_spans(rng))
        xs += x
        ys += y
    return xs, ys


def differing_params(specs: Sequence[dict[str, Any]]) -> list[str]:
    """Parameter names whose values are not the same in every spec (sorted)."""
    params = [s.get("params") if isinstance(s, dict) and isinstance(s.get("params"), dict) else {} for s in specs]
    keys = sorted({k for p in params for k in p})
    return [k for k in keys if len({repr(p.get(k)) for p in params}) > 1]


def legends(views: Sequence[Any], max_len: int = 40) -> list[str]:
    """One label per run: the parameters that differ (`learning_rate=2e-06 beta=0.02`), else its name."""
    specs = [v.spec if isinstance(v.spec, dict) else {} for v in views]
    keys = differing_params(specs) if len(views) > 1 else []
    out = []
    for v, s in zip(views, specs):
        p = s.get("params") if isinstance(s.get("params"), dict) else {}
        label = " ".join(f"{k}={_short(p.get(k))}" for k in keys)
        out.append((label or v.name())[:max_len])
    if len(set(out)) < len(out):  # the same parameters (a resumed copy): tell them apart by name
        out = [f"{v.name()[: max_len // 2]} {o}".strip()[:max_len] for v, o in zip(views, out)]
    return out


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def markers(view: Any, lo: float | None = None, hi: float | None = None, alerts: list | None = None) -> Markers:
    """Checkpoint saves (events.jsonl) and alerts (each severity at the step it was reached);
    `alerts` when the caller has them already (view.alerts() otherwise)."""
    m = Markers()
    for ev in getattr(view, "events", []):
        if ev.get("event") == "checkpoint_saved":
            s = json_step(ev.get("step"))  # 10**400 overflowed float(), as a NaN or a bool is no step
            if s is not None:
                m.checkpoints.append(float(s))
    if alerts is None:
        try:
            alerts = view.alerts()
        except Exception:  # noqa: BLE001 - markers are decoration: a health error must not hide the chart
            alerts = []
    for a in alerts:
        steps = getattr(a, "steps", None) or {a.severity: a.first_step}
        for sev, s in steps.items():
            if isinstance(s, (int, float)) and math.isfinite(s):
                m.alerts.append((float(s), sev))
    keep = lambda s: (lo is None or s > lo) and (hi is None or s <= hi)
    m.checkpoints = sorted({s for s in m.checkpoints if keep(s)})
    m.alerts = sorted({(s, sev) for s, sev in m.alerts if keep(s)})
    return m


def thin(steps: Iterable[float], at_most: int) -> list[float]:
    """At most `at_most` of the steps, evenly spread (a 20k-step run saves hundreds of checkpoints;
    a chart column can show one)."""
    s = sorted(steps)
    if len(s) <= at_most or at_most <= 0:
        return s
    idx = np.linspace(0, len(s) - 1, at_most).round().astype(int)
    return [s[i] for i in sorted(set(idx.tolist()))]


def overlay(
    views: Sequence[Any], metric: str, width: int, smoothing: float = 0.0, view_for: Callable[[str], Any] | None = None
) -> tuple[list[Line], Markers]:
    """One line per run (as a chain through its parents, and down its rollback children, when
    view_for can open them) and the markers of every run, all on one step axis."""
    labels = legends(views)
    lines, marks = [], Markers()
    for k, (v, label) in enumerate(zip(views, labels)):
        segs = chain(rollback_tip(v, view_for), view_for)
        xs, ys = chain_series(segs, metric, width, smoothing)
        forks = [s.lo for s in segs if s.lo is not None and not s.rollback]
        rollbacks = [s.lo for s in segs if s.lo is not None and s.rollback]
        lines.append(Line(label, xs, ys, forks, rollbacks, run=k))
        tails = rolled_back_tails(segs)
        for t in tails:
            txs, tys = chain_series([t], metric, width // 2, smoothing)
            if txs:
                lines.append(Line(f"{label} (rolled back)", txs, tys, rolled_back=True, run=k))
        for s in segs:
            mk = markers(s.view, s.lo, s.hi)
            marks.checkpoints += mk.checkpoints
            marks.alerts += mk.alerts
        for t in tails:  # the alerts that made the guard roll back; its later saves are no step of this chain
            marks.alerts += markers(t.view, t.lo, t.hi).alerts
    marks.checkpoints = sorted(set(marks.checkpoints))
    marks.alerts = sorted(set(marks.alerts))
    return lines, marks
