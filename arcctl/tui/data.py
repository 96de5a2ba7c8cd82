"""The jobs the dashboard lists, read from the registry (jobs/registry.py) and each job's run dir.

Kept out of the screens so the table code only formats rows; every call that may touch the disk
or a scheduler runs in a Textual worker thread.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from jobs.rundir import DeferredFS, fs_for_host
from jobs.runview import RunView


@dataclass
class JobRow:
    key: str  # registry id (or run dir for runs opened directly)
    name: str
    kind: str
    backend: str
    state: str
    run_dir: str
    step: int | None = None
    reward: float | None = None
    truncation: float | None = None
    alerts: int = 0
    worst: str = ""  # severity of the worst alert
    created: float | None = None
    host: str | None = None
    backend_id: str | None = None
    progress: Any = None  # jobs.progress.Progress of the rows read so far

    @property
    def eta(self) -> float | None:
        """Seconds left (None when unknown or finished): the jobs table sorts by it."""
        p = self.progress
        return None if p is None or p.done else p.eta_s

    def age(self, now: float | None = None) -> str:
        if self.created is None:
            return ""
        s = max(0, int((now or time.time()) - self.created))
        for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
            if s >= n:
                return f"{s // n}{unit}"
        return f"{s}s"

    def text(self) -> str:
        """What the `/` filter matches against."""
        return " ".join(
            str(x) for x in (self.name, self.kind, self.backend, self.state, self.run_dir, self.worst, self.host or "")
        )


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _ts(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    try:
        from datetime import datetime

        return datetime.fromisoformat(str(v).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _connect(fs: DeferredFS) -> None:
    try:
        fs.connect()
    except Exception:  # noqa: BLE001 - the first read reports it, in the screen's own words
        pass


class JobSource:
    """Registry jobs (plus explicitly opened run dirs), each with a cached incremental RunView."""

    def __init__(self, registry: Any = None, extra_run_dirs: list[str] | None = None, fs_for: Any = None) -> None:
        self.registry = registry
        self.extra = list(extra_run_dirs or [])
        self.views: dict[str, RunView] = {}
        self.error: str | None = None
        self._fs_for = fs_for or fs_for_host  # host -> RunFS for remote run dirs

    @classmethod
    def open_default(cls, extra_run_dirs: list[str] | None = None) -> "JobSource":
        reg, err = None, None
        try:
            from jobs.registry import Registry

            reg = Registry()
        except Exception as e:  # noqa: BLE001 - a broken registry must not stop the dashboard
            err = f"registry: {e}"
        src = cls(reg, extra_run_dirs, fs_for=fs_for_host)
        src.error = err
        return src

    @staticmethod
    def _key(run_dir: str, host: str | None) -> str:
        return f"{host}:{run_dir}" if host else run_dir

    def cached(self, run_dir: str, host: str | None = None) -> RunView | None:
        """The view already made for this run dir, if any (never opens one)."""
        return self.views.get(self._key(run_dir, host))

    def view(self, run_dir: str, host: str | None = None) -> RunView:
        key = self._key(run_dir, host)
        v = self.views.get(key)
        if v is None:
            fs = None
            if host and self._fs_for is not None:
                # made, and logged in, in a background thread while the screen is being built
                fs = DeferredFS(lambda: self._fs_for(host), host)
                threading.Thread(target=_connect, args=(fs,), daemon=True, name=f"connect-{host}").start()
            v = self.views[key] = RunView(run_dir, fs)
        return v

    def registry_jobs(self) -> list[Any]:
        if self.registry is None:
            return []
        for meth in ("list_jobs", "list", "jobs", "all"):
            fn = getattr(self.registry, meth, None)
            if callable(fn):
                return list(fn())
        return []

    def rows(self, statuses: dict[str, str] | None = None) -> list[JobRow]:
        """All rows, with step/reward/truncation/alerts from each run dir (incremental reads)."""
        rows: list[JobRow] = []
        try:
            jobs = self.registry_jobs()
            self.error = None
        except Exception as e:  # noqa: BLE001
            self.error, jobs = f"registry: {e}", []
        seen = set()
        for j in jobs:
            run_dir = str(_get(j, "run_dir", "") or "")
            key = str(_get(j, "id", run_dir))
            state = _get(j, "state", "unknown")
            state = getattr(state, "value", state)
            if statuses and key in statuses:
                state = statuses[key]
            rows.append(
                JobRow(
                    key=key,
                    name=str(_get(j, "name", key)),
                    kind=str(_get(j, "kind", "")),
                    backend=str(_get(j, "backend", "")),
                    state=str(state),
                    run_dir=run_dir,
                    created=_ts(_get(j, "created", _get(j, "submitted", None))),
                    host=_get(j, "host"),
                    backend_id=_get(j, "backend_job_id"),
                )
            )
            seen.add(os.path.abspath(run_dir) if run_dir else key)
        for d in self.extra:
            if os.path.abspath(d) in seen:
                continue
            v = self.view(d)
            try:
                v.refresh(completion_bytes=0)
            except Exception as e:  # noqa: BLE001
                self.error = f"{d}: {e}"
            spec = v.spec
            state = "completed" if v.exit_code() == 0 else ("failed" if v.exit_code() is not None else "running")
            rows.append(
                JobRow(
                    key=d,
                    name=v.name(),
                    kind=str(spec.get("kind", "")),
                    backend=str(spec.get("backend", "")),
                    state=state,
                    run_dir=d,
                    created=_ts(spec.get("created")),
                )
            )
        for r in rows:
            if not r.run_dir:
                continue
            try:
                v = self.view(r.run_dir, r.host)
                v.refresh(completion_bytes=0)
            except Exception as e:  # noqa: BLE001 - an unreachable host must not empty the table
                self.error = f"{r.host or 'local'}: {e}"
                continue
            r.step = v.metrics.last_step()
            r.progress = v.progress()
            r.reward = v.metrics.last("reward")
            r.truncation = v.metrics.last("completions/clipped_ratio")
            alerts = v.alerts()  # the trainer's events + what jobs.health found in the rows read
            r.alerts = len(alerts)
            sev = {"watch": 1, "warning": 2, "critical": 3}
            if alerts:
                r.worst = max((a.severity for a in alerts), key=lambda s: sev.get(s, 0))
        return rows
