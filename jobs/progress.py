"""Progress of a training run: step / total steps, smoothed steps per second and ETA.

The total comes from the spec (`max_steps` > 0) or from the `epoch` TRL logs with every row
(a fraction of the data seen: total = step * epochs / epoch). The speed is an exponential
average of seconds per step between logged rows; an interval far slower than the average (a
queue wait before a requeued job resumed, a long evaluation) is a pause, not a speed, and is
left out. ETA is counted from the last logged row, so it does not depend on the reader's clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from jobs.rundir import json_step

ALPHA = 0.2  # weight of the newest interval in the average
PAUSE = 20.0  # an interval this many times the average seconds per step is a pause
TAIL_BYTES = 64 * 1024  # what `read_progress` reads from the end of metrics.jsonl
RECENT_ROWS = 200  # the average forgets older rows (0.8**200 ~ 1e-20): a backlog is not walked


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


@dataclass(frozen=True)
class Progress:
    step: int | None = None
    total: int | None = None
    steps_per_s: float | None = None
    eta_s: float | None = None
    done: bool = False

    @property
    def fraction(self) -> float | None:
        if self.step is None or not self.total:
            return None
        return min(1.0, max(0.0, self.step / self.total))

    def step_text(self) -> str:
        if self.step is None:
            return "-"
        return f"{self.step}/{self.total}" if self.total else str(self.step)

    def rate_text(self) -> str:
        r = self.steps_per_s
        if not r:
            return "-"
        return f"{r:.3g} st/s" if r >= 0.1 else f"{1 / r:.3g} s/st"

    def eta_text(self) -> str:
        if self.done:
            return "done"
        return "-" if self.eta_s is None else duration(self.eta_s)

    def text(self) -> str:
        """`120/600  0.52 st/s  ETA 15m` (what the run screen and the jobs list show)."""
        return f"{self.step_text()}  {self.rate_text()}  ETA {self.eta_text()}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "total": self.total,
            "steps_per_s": self.steps_per_s,
            "eta_s": self.eta_s,
            "done": self.done,
        }


def duration(s: float) -> str:
    """Seconds as `45s`, `12m`, `3h05m`, `2d04h`."""
    s = max(0, int(round(s)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def total_steps(params: Mapping[str, Any] | None, step: int | None, epoch: float | None) -> int | None:
    params = params or {}
    max_steps = params.get("max_steps")
    if isinstance(max_steps, int) and not isinstance(max_steps, bool) and max_steps > 0:
        return max_steps
    epochs = _num(params.get("epochs"))
    if epochs and epochs > 0 and step and epoch and epoch > 0:
        return max(step, round(step * epochs / epoch))
    return None


class ProgressTracker:
    """Fed the metric rows as they are read (incrementally); `estimate` is O(1)."""

    def __init__(self) -> None:
        self.step: int | None = None
        self.time: float | None = None
        self.epoch: float | None = None
        self.sec_per_step: float | None = None

    def feed(self, rows: Iterable[Mapping[str, Any]]) -> None:
        rows = list(rows)
        if len(rows) > RECENT_ROWS:  # opening a 100k-step run: only the newest rows can matter
            rows = rows[-RECENT_ROWS:]
        for r in rows:
            step, t = json_step(r.get("step")), _num(r.get("time"))
            if step is None:  # no step (docs/run-dir.md: an integer 0..2**63-1)
                continue
            if t is not None and self.step is not None and self.time is not None:
                ds, dt = step - self.step, t - self.time
                if ds > 0 and dt > 0:
                    per = dt / ds
                    avg = self.sec_per_step
                    if avg is None:
                        self.sec_per_step = per
                    elif per <= PAUSE * avg:
                        self.sec_per_step = avg + ALPHA * (per - avg)
            self.step, self.time = int(step), t
            epoch = _num(r.get("epoch"))
            if epoch is not None:
                self.epoch = epoch

    def estimate(self, params: Mapping[str, Any] | None = None, done: bool = False) -> Progress:
        total = total_steps(params, self.step, self.epoch)
        rate = 1.0 / self.sec_per_step if self.sec_per_step else None
        eta = None
        if not done and total and self.step is not None and self.sec_per_step:
            eta = max(0, total - self.step) * self.sec_per_step
        return Progress(self.step, total, rate, 0.0 if done else eta, done)


def read_progress(run_dir: str, fs: Any = None, done: bool = False, tail_bytes: int = TAIL_BYTES) -> Progress:
    """Progress from the end of a run's metrics.jsonl and its spec.json (for `arcctl ls`: a few
    reads per running job, never the whole file). Unreadable parts give an empty Progress."""
    from jobs import rundir as rd

    fs = fs or rd.LocalFS()
    base = run_dir.rstrip("/")
    tracker = ProgressTracker()
    try:
        path = f"{base}/{rd.METRICS}"
        size = fs.size(path)
        if size <= 0:
            return Progress(done=done)
        with fs.open_binary(path) as f:
            start = max(0, size - tail_bytes)
            f.seek(start)
            data = f.read(size - start)
    except FileNotFoundError:
        return _trainer_state_progress(base, fs, done)
    except OSError:
        return Progress(done=done)
    if start > 0:
        data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""  # the first line is cut
    rows, _ = rd.parse_records(data[: data.rfind(b"\n") + 1])  # a torn last line: not yet
    tracker.feed(rows)
    params = None
    try:
        spec = rd.loads(fs.read_text(f"{base}/{rd.SPEC}"))
        params = spec.get("params") if isinstance(spec, dict) else None
    except (OSError, ValueError):
        pass
    return tracker.estimate(params if isinstance(params, dict) else None, done=done)


def _trainer_state_progress(run_dir: str, fs: Any, done: bool) -> Progress:
    """A run without metrics.jsonl (a command job training with the Hugging Face Trainer): the step
    and planned steps of its newest trainer_state.json; no speed (those files hold no times)."""
    from jobs.trainer_state import TrainerStateTail

    got = TrainerStateTail(run_dir, fs).latest_step()
    if got is None:
        return Progress(done=done)
    step, total = got
    return Progress(step, total if total and total > 0 else None, None, 0.0 if done else None, done)
