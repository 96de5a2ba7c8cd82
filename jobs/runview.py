"""RunView: everything the dashboard shows about one run dir, read incrementally over a RunFS.

Headless on purpose (no textual import): the UI only renders what this gives, and the same code
reads a local run dir (LocalFS) or a remote one (the SFTP RunFS in jobs/ssh_transport.py). Metrics go to
a MetricsHistory, completions to a CompletionIndex, stdout/stderr to TextTails; checkpoints come
with validity and the metrics at their step; alerts merge the trainer's events with what
jobs.health finds in the rows read so far.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from jobs import rundir as rd
from jobs.completions import CHUNK, CompletionIndex
from jobs.masked_steps import masking_of
from jobs.metrics_history import MetricsHistory
from jobs.progress import Progress, ProgressTracker
from jobs.trainer_state import metrics_source

# The first refresh reads only the last FIRST_METRICS_BYTES of metrics.jsonl (~2,500 rows), so
# the newest steps are on screen at once however long the run; load_history() reads the rows
# before them, HISTORY_CHUNK at a time, and puts them in front.
FIRST_METRICS_BYTES = 256 * 1024
HISTORY_CHUNK = 1024 * 1024
# The first completions chunk is small, so a first page never waits behind a big one.
FIRST_COMPLETIONS_BYTES = 1024 * 1024
HEALTH_TAIL_BYTES = 32 * 1024 * 1024
HEALTH_SLICE = 200  # rows judged per slice
HEALTH_BUDGET_S = 0.03  # per refresh: a 100k-row backlog never delays the screen


def _join(run_dir: str, name: str) -> str:
    return f"{run_dir.rstrip('/')}/{name}"


@dataclass
class CheckpointRow:
    name: str
    step: int
    valid: bool
    problem: str | None
    path: str
    metrics: dict[str, float]


@dataclass
class Alert:
    rule: str
    severity: str
    first_step: int | None
    message: str
    example_ids: list[str]
    steps: dict[str, int] = field(default_factory=dict)  # first step at which each severity was reached


class RunView:
    """One run dir, read incrementally. `refresh()` pulls whatever is new and says what changed."""

    def __init__(self, run_dir: str, fs: rd.RunFS | None = None) -> None:
        self.run_dir = run_dir.rstrip("/") or "/"
        fs = fs or rd.LocalFS()
        self.fs: rd.RunFS = (
            fs if getattr(fs, "concurrent", False) or isinstance(fs, rd.SerializedFS) else rd.SerializedFS(fs)
        )
        self._refresh_lock = threading.Lock()
        self._history_lock = threading.Lock()
        self._started = False
        self._history_end = 0  # metrics.jsonl bytes before the tail the first refresh read (0: none left)
        self._history_read = 0  # of those, read by a load_history() under way
        self._history_gen = 0  # bumped when metrics.jsonl is replaced: a load under way is dropped
        self._since_tail: list[dict[str, Any]] = []  # rows read from the tail on, while history is pending
        self._unjudged: list[dict[str, Any]] = []  # rows a metrics_only refresh read, for the next full one
        self.metrics = MetricsHistory()
        self.progress_tracker = ProgressTracker()
        self._metrics_tail = metrics_source(self.run_dir, self.fs)  # metrics.jsonl, else trainer_state.json
        self._events_tail = rd.JsonlTail(_join(self.run_dir, rd.EVENTS), self.fs)
        self.events: list[dict[str, Any]] = []
        self.completions = CompletionIndex(self.fs, _join(self.run_dir, rd.COMPLETIONS))
        self.stdout = rd.TextTail(self.fs, _join(self.run_dir, rd.STDOUT))
        self.stderr = rd.TextTail(self.fs, _join(self.run_dir, rd.STDERR))
        self._spec: dict[str, Any] | None = None
        self.spec_error: str | None = None
        self.exit_code_value: int | None = None
        self._monitor: Any = None  # jobs.health.HealthMonitor, fed with the same incremental reads
        self._health_metrics: list[dict[str, Any]] = []  # rows read but not yet judged (backlog)
        self._health_completions: list[dict[str, Any]] = []
        self.health_error: str | None = None

    # -- reading -------------------------------------------------------------------------
    def refresh(
        self, completion_bytes: int | None = CHUNK, wait: bool = True, history: bool = True, metrics_only: bool = False
    ) -> set[str] | None:
        """Read what is new. With wait=False, returns None at once when another thread is
        refreshing this view already (a slow remote read must not pile up UI ticks). The first
        refresh reads the newest metrics rows; with history=False the older ones are left to
        load_history() (a screen draws the newest steps first and fills the history in behind).
        metrics_only reads the metrics rows and spec.json alone (a first chart waits for nothing
        else); the next full refresh reads the rest and judges those rows' health."""
        if not self._refresh_lock.acquire(blocking=wait):
            return None
        try:
            changed = self._refresh(completion_bytes, metrics_only)
        finally:
            self._refresh_lock.release()
        if history and self._history_end and self.load_history(wait=wait):
            changed.add("metrics")
        return changed

    @property
    def history_progress(self) -> float | None:
        """While older metrics rows are still to be read: the fraction read so far (else None)."""
        end = self._history_end
        return min(1.0, self._history_read / end) if end else None

    def load_history(self, wait: bool = True, on_chunk: Any = None) -> bool:
        """Read the metrics rows before the tail the first refresh started from, oldest first in
        HISTORY_CHUNK pieces (`on_chunk(bytes_read, bytes_total)` after each), then put them in
        front of `metrics` at once; the refresh lock is held only for that swap, so refreshes and
        other reads go on meanwhile. True when this call completed the history."""
        if not self._history_lock.acquire(blocking=wait):
            return False
        try:
            with self._refresh_lock:
                end, gen = self._history_end, self._history_gen
            if not end:
                return False
            jsonl = self._jsonl()
            tail = rd.JsonlTail(jsonl.path, self.fs)
            older, rows = MetricsHistory(self.metrics.mask_truncated), []
            while tail.offset < end:
                before = tail.offset
                new = tail.read_new(end - tail.offset if end - tail.offset < HISTORY_CHUNK else HISTORY_CHUNK)
                if tail.resets or gen != self._history_gen:
                    return False  # replaced: a later call starts again
                if tail.offset <= before:
                    # the rest before the newest rows is one line with no newline (a torn or endless
                    # line the tail began after): the history is whole without it; retrying would
                    # read it again at every refresh and keep the rows before it off the chart
                    break
                older.extend(new)
                rows.extend(new)
                self._history_read = tail.offset
                if on_chunk is not None:
                    on_chunk(tail.offset, end)
            with self._refresh_lock:
                if gen != self._history_gen:
                    return False
                older.extend(self._since_tail)
                self.metrics = older
                jsonl.bad_lines += tail.bad_lines
                if self._monitor is not None and self.health_error is None:
                    self._health_metrics[:0] = rows  # judged oldest first, before the tail's rows
                self._since_tail, self._history_end, self._history_read = [], 0, 0
                self._judge_health()
            return True
        finally:
            self._history_lock.release()

    def _jsonl(self) -> rd.JsonlTail:
        """The metrics.jsonl tail behind the metrics source."""
        return getattr(self._metrics_tail, "jsonl", self._metrics_tail)

    def _refresh(self, completion_bytes: int | None, metrics_only: bool = False) -> set[str]:
        changed: set[str] = set()
        if not self._started:
            # metrics.jsonl only: a trainer_state.json (jobs.trainer_state) is read whole
            self._history_end = self._jsonl().start_near_end(FIRST_METRICS_BYTES)
            self._started = True
        resets = self._metrics_tail.resets
        rows = self._metrics_tail.read_new()
        if self._metrics_tail.resets != resets:
            # metrics.jsonl was replaced by a shorter one (a resume from an earlier checkpoint moved
            # the later steps aside): the history and its health judgement start over, from the
            # whole new file (it was read from its start)
            self.metrics = MetricsHistory()
            self.progress_tracker = ProgressTracker()
            self._monitor = None
            self._health_metrics.clear()
            self._health_completions.clear()
            self._history_gen += 1
            self._since_tail, self._history_end, self._history_read = [], 0, 0
            self._unjudged.clear()
        if self._history_end:
            self._since_tail.extend(rows)
        self.progress_tracker.feed(rows)
        self.metrics.mask_truncated = masking_of(self.spec)  # all-masked steps are gaps, not zeros
        if self.metrics.extend(rows):
            changed.add("metrics")
        if metrics_only:
            self._unjudged.extend(rows)
            return changed
        rows, self._unjudged = self._unjudged + rows, []
        new_events = self._events_tail.read_new()
        if new_events:
            self.events.extend(new_events)
            changed.add("events")
        n0 = len(self.completions)
        if n0 == 0 and completion_bytes is not None:
            completion_bytes = min(completion_bytes, FIRST_COMPLETIONS_BYTES)
        if self.completions.update(completion_bytes):
            changed.add("completions")
        if self._feed_health(rows, n0):
            changed.add("health")
        if self.stdout.update() + self.stderr.update():  # both, always (no short-circuit)
            changed.add("logs")
        # Read here (the UI's worker thread) so the UI thread only ever reads cached values:
        # over SFTP a read on the UI thread would freeze the screen.
        _ = self.spec
        code = self._read_exit_code()
        if code != self.exit_code_value:
            self.exit_code_value = code
            changed.add("exit")
        return changed

    @property
    def spec_read(self) -> bool:
        """spec.json has been read (`spec` answers without I/O)."""
        return self._spec is not None

    @property
    def spec(self) -> dict[str, Any]:
        """spec.json as a dict ({} with spec_error set when missing or malformed)."""
        if self._spec is None:
            path = _join(self.run_dir, rd.SPEC)
            try:
                self._spec = rd.loads(self.fs.read_text(path))
                if not isinstance(self._spec, dict):
                    raise ValueError("not a JSON object")
            except FileNotFoundError:
                self._spec, self.spec_error = {}, f"{path}: no spec.json"
            except (OSError, ValueError) as e:
                self._spec, self.spec_error = {}, f"{path}: {e}"
        return self._spec

    @property
    def params(self) -> dict[str, Any]:
        """spec.json's params ({} when missing or not an object: a hand-edited `"params": "x"`)."""
        params = self.spec.get("params")
        return params if isinstance(params, dict) else {}

    def name(self) -> str:
        return str(self.spec.get("name") or self.run_dir.rsplit("/", 1)[-1])

    def exit_code(self) -> int | None:
        """The exit code seen by the last refresh (None while running)."""
        return self.exit_code_value

    def progress(self) -> Progress:
        """Step / total, smoothed speed and ETA from the rows read so far (no I/O)."""
        params = self.spec.get("params") if isinstance(self.spec, dict) else None
        params = params if isinstance(params, dict) else None
        planned = self._metrics_tail.max_steps  # a trainer_state.json's
        if planned and not (params or {}).get("max_steps"):
            params = {**(params or {}), "max_steps": planned}  # a command job's spec plans no steps
        return self.progress_tracker.estimate(params, done=self.exit_code_value is not None)

    def _read_exit_code(self) -> int | None:
        try:
            return int(self.fs.read_text(_join(self.run_dir, rd.EXIT_CODE)).strip())
        except (OSError, ValueError):
            return None

    def checkpoints(self) -> list[CheckpointRow]:
        return [
            CheckpointRow(c.name, c.step, c.valid, c.problem, c.path, self.metrics.row_at(c.step))
            for c in rd.list_checkpoints(self.run_dir, self.fs)
        ]

    def alerts(self) -> list[Alert]:
        """Collapse alerts: those in events.jsonl (the trainer's guard writes them) and those
        jobs.health finds in what this view has read so far."""
        # One alert per (rule, first step), at the highest severity it reached: the guard writes an
        # event each time a rule's severity rises, so the first event of a rule is often "watch".
        out: list[Alert] = []
        where: dict[tuple[str, Any], int] = {}
        candidates = [
            _alert_from_dict(ev) if ev.get("event") == rd.EV_COLLAPSE else _alert_from_rollback(ev)
            for ev in self.events
            if ev.get("event") in (rd.EV_COLLAPSE, rd.EV_ROLLBACK)
        ]
        for a in candidates + self._health_alerts():
            key = (a.rule, a.first_step)
            if key not in where:
                where[key] = len(out)
                out.append(a)
            else:
                kept = out[where[key]]
                steps = {
                    sev: min(s for s in (kept.steps.get(sev), a.steps.get(sev)) if s is not None)
                    for sev in {**kept.steps, **a.steps}
                }
                if _SEVERITY_RANK.get(a.severity, 1) > _SEVERITY_RANK.get(kept.severity, 1):
                    out[where[key]] = kept = a
                kept.steps = steps
        return out

    def _feed_health(self, metric_rows: list[dict[str, Any]], first_new_line: int) -> bool:
        """Feed new rows to jobs.health's incremental monitor; True when an alert rose. A long
        backlog (opening a 100k-step run) is judged HEALTH_BUDGET_S of CPU per refresh,
        so charts show at once and alerts catch up. Completions are judged only near the end
        of the file: a 1 GB backlog is not re-read line by line (its metrics still are)."""
        if self.health_error is not None:
            return False
        try:
            if self._monitor is None:
                from jobs.health.report import judged

                if not judged(self.spec.get("kind") if self.spec else None):
                    return False
                from jobs.health import HealthMonitor
                from jobs.health.report import settings_from_spec

                th, mcl, _notes = settings_from_spec(self.run_dir, self.fs)
                self._monitor = HealthMonitor(th, mcl, mask_truncated=masking_of(self.spec))
            comp = self.completions
            self._health_metrics.extend(metric_rows)
            if len(comp) > first_new_line and comp.file_size() - comp.starts[first_new_line] < HEALTH_TAIL_BYTES:
                self._health_completions.extend(c.raw for c in comp.read(list(range(first_new_line, len(comp)))))
            if self._history_end:
                return False  # judged oldest first: once load_history() has put the older rows in front
            return self._judge_health()
        except Exception as e:  # noqa: BLE001 - health is advisory; the dashboard must still work
            self.health_error = f"health: {e}"
            return False

    def _judge_health(self) -> bool:
        """Judge the backlog for at most HEALTH_BUDGET_S; True when an alert rose."""
        if self._monitor is None or self.health_error is not None:
            return False
        try:
            if not self._health_metrics and not self._health_completions:
                return False
            raised = False
            t_end = time.monotonic() + HEALTH_BUDGET_S
            while self._health_metrics or self._health_completions:
                rows = self._health_metrics[:HEALTH_SLICE]
                del self._health_metrics[:HEALTH_SLICE]
                last = rd.json_step(rows[-1].get("step")) if rows else None
                if self._health_metrics and last is not None:
                    # completions of later steps wait for their metrics rows; a step that is no
                    # integer (True, "5") reads as missing, as 0
                    comps = [c for c in self._health_completions if (rd.json_step(c.get("step")) or 0) <= last]
                    self._health_completions = [
                        c for c in self._health_completions if (rd.json_step(c.get("step")) or 0) > last
                    ]
                else:
                    comps, self._health_completions = self._health_completions, []
                raised = bool(self._monitor.update(rows, comps)) or raised
                if time.monotonic() > t_end:
                    break
            return raised
        except Exception as e:  # noqa: BLE001 - health is advisory; the dashboard must still work
            self.health_error = f"health: {e}"
            return False

    @property
    def health_pending(self) -> int:
        """Metrics rows not judged yet (the run screen says alerts are still catching up)."""
        return len(self._health_metrics)

    def _health_alerts(self) -> list[Alert]:
        if self._monitor is None:
            return []
        return [_alert_from_dict(a.to_dict()) for a in self._monitor.alerts]


_SEVERITY_RANK = {"watch": 0, "warning": 1, "critical": 2}


def _alert_from_dict(d: dict[str, Any]) -> Alert:
    """From a jobs.health Alert dict or a `collapse_warning` event (same fields). An event
    without `steps` (older runs) says its own severity was reached at its step."""
    ev = d.get("evidence") if isinstance(d.get("evidence"), dict) else {}
    ids = [x.get("id") if isinstance(x, dict) else x for x in ev.get("examples") or []]
    raw = d.get("steps") if isinstance(d.get("steps"), dict) else {}
    steps = {k: v for k, v in ((k, _int(v)) for k, v in raw.items()) if v is not None and k in _SEVERITY_RANK}
    # a severity the guard never writes (["critical"], "CRITICAL") reads as absent, as any field
    severity = d.get("severity") if str(d.get("severity")) in _SEVERITY_RANK else "warning"
    if not steps and _int(d.get("step")) is not None:
        steps = {severity: _int(d.get("step"))}
    return Alert(
        rule=str(d.get("rule") or "alert"),
        severity=severity,
        first_step=_int(d.get("first_step")),
        message=str(d.get("message") or ""),
        example_ids=[str(i) for i in ids if i is not None][:20],
        steps=steps,
    )


def _alert_from_rollback(d: dict[str, Any]) -> Alert:
    """A `rollback` event, shown next to the alert that caused it."""
    if d.get("status") == "continued":
        msg = f"rolled back to {d.get('checkpoint') or 'the start'}, training goes on in {d.get('child_run_dir')}"
    else:
        msg = f"rollback {d.get('status')}: {d.get('reason')}"
    return Alert(
        rule=str(d.get("rule") or "rollback"),
        severity="warning",
        first_step=_int(d.get("step")),
        message=msg,
        example_ids=[],
    )


def _int(v: Any) -> int | None:
    # a step: a JSON integer >= 0 (rd.json_step); a first_step of -1 in a hand-made event put
    # the first warning before every checkpoint, so none was marked healthy
    return rd.json_step(v)
