"""The one writer of a run dir's metrics.jsonl, completions.jsonl and events.jsonl.

Every record is checked against its type in jobs.records before it is written, so what lands in
the run dir is what docs/run-dir.md describes. Imports no transformers: the entry point uses it
to record a bad spec before any heavy import.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Iterable

from jobs import records, rundir


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _is_number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


class RunFiles:
    """Append-only writers for the run dir's JSONL files (opened on first use, main process only).
    A record that does not match its type raises ValueError naming the file and the field."""

    def __init__(self, run_dir: str | Path, enabled: bool | None = None):
        self.run_dir = Path(run_dir)
        self.enabled = is_main_process() if enabled is None else enabled
        self._writers: dict[str, rundir.JsonlWriter] = {}
        self.has_started = False  # set by started(): errors after it are crashes, not bad input

    def _writer(self, name: str) -> rundir.JsonlWriter:
        w = self._writers.get(name)
        if w is None:
            w = self._writers[name] = rundir.JsonlWriter(self.run_dir / name)
        return w

    def _check(self, name: str, validate, obj: dict[str, Any]) -> None:
        try:
            validate(obj)
        except ValueError as e:
            raise ValueError(
                f"{self.run_dir / name}: record does not match jobs.records: {records.describe(e)}"
            ) from None

    def metric(self, step: int, values: dict[str, Any]) -> None:
        """One metrics row. Only numbers (or null) are metrics; other logged values are left out."""
        if not self.enabled:
            return
        row = {
            "step": step,
            "time": round(time.time(), 3),
            **{k: v for k, v in values.items() if _is_number(v) and k not in ("step", "time")},
        }
        self._check(rundir.METRICS, records.validate_metric, row)
        self._writer(rundir.METRICS).write(row)

    def completions(self, rows: Iterable[dict[str, Any]]) -> None:
        if not self.enabled:
            return
        w = self._writer(rundir.COMPLETIONS)
        for row in rows:
            self._check(rundir.COMPLETIONS, records.validate_completion, row)
            w.write(row)

    def event(self, event: str, **fields: Any) -> None:
        if not self.enabled:
            return
        obj = {"event": event, "time": round(time.time(), 3), **fields}
        self._check(rundir.EVENTS, records.validate_event, obj)
        self._writer(rundir.EVENTS).write(obj)

    def started(self, **fields: Any) -> None:
        self.has_started = True
        self.event(
            records.EV_STARTED,
            run_dir_version=records.RUN_DIR_VERSION,
            pid=os.getpid(),
            host=socket.gethostname(),
            argv=list(sys.argv),
            **fields,
        )

    def warning(self, message: str, **fields: Any) -> None:
        self.event(records.EV_WARNING, message=message, **fields)

    def close(self) -> None:
        for w in self._writers.values():
            w.close()
        self._writers.clear()
