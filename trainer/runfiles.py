"""The one writer of a run dir's metrics.jsonl, completions.jsonl and events.jsonl.

Every record is turned into its JSON line first, and that line is read back and checked exactly
as `jobs.records.check_run_dir` checks a run dir (strict types, JSON proper), before it is
written: what lands in the run dir is what docs/run-dir.md describes and the checker accepts.
A number that is not finite (NaN, inf, an integer past float range) is written as null: a metric
is then missing at that step, a field that may not be null refuses the record. Imports no
transformers: the entry point uses it to record a bad spec before any heavy import.
"""

from __future__ import annotations

import json
import math
import os
import socket
import stat
import sys
import time
from pathlib import Path
from typing import Any, Iterable

from jobs import records, rundir


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _is_number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _finite(v: Any) -> Any:
    """V with every number that is not finite (NaN, inf, an integer no float can hold: a reader
    reads it as inf) replaced by None, in lists and dicts too."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        try:
            return v if math.isfinite(v) else None
        except OverflowError:  # an int past float range
            return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    if hasattr(v, "item") and not hasattr(v, "__len__"):  # a numpy / torch scalar
        return _finite(v.item())
    return v


def check_appendable(path: Path) -> None:
    """`path` may be opened for appending: absent, or a regular file (also through a link). A FIFO
    held the first write forever (no reader ever comes), a folder was an IsADirectoryError
    traceback after the first training step, a link to nothing created its target wherever it
    pointed, and /dev/null took every record."""
    from jobs.errors import SpecError

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise SpecError(f"{path}: a link to nothing; the trainer appends its records here: remove it") from None
        return
    except OSError as e:  # a link loop, no permission
        raise SpecError(f"{path}: cannot be used ({e.strerror}); the trainer appends its records here") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
        raise SpecError(f"{path}: {kind}, not a regular file; the trainer appends its records here: remove it")


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
            check_appendable(self.run_dir / name)
            w = self._writers[name] = rundir.JsonlWriter(self.run_dir / name)
        return w

    def check_files(self) -> None:
        """Each file this run appends to is a regular file or not there yet (SpecError naming it
        otherwise): checked when the job starts, not at the first write, after the model loaded."""
        for name in (rundir.EVENTS, rundir.METRICS, rundir.COMPLETIONS):
            check_appendable(self.run_dir / name)

    def _line(self, name: str, obj: dict[str, Any]) -> str:
        """OBJ as its JSON line, once that line read back passes check_run_dir's check of file NAME;
        else ValueError naming the file and the field."""
        try:
            line = json.dumps(_finite(obj), separators=(",", ":"), allow_nan=False, default=rundir._json_default)
            records.check_record(name, line)
        except ValueError as e:
            raise ValueError(
                f"{self.run_dir / name}: record does not match jobs.records: {records.describe(e)}"
            ) from None
        return line

    def metric(self, step: int, values: dict[str, Any]) -> None:
        """One metrics row. Only numbers (or null) are metrics; other logged values are left out;
        NaN and infinity are written as null (docs/run-dir.md)."""
        if not self.enabled:
            return
        row = {
            "step": step,
            "time": round(time.time(), 3),
            **{k: v for k, v in values.items() if _is_number(v) and k not in ("step", "time")},
        }
        line = self._line(rundir.METRICS, row)  # checked before the file is opened
        self._writer(rundir.METRICS).write_line(line)

    def completions(self, rows: Iterable[dict[str, Any]]) -> None:
        if not self.enabled:
            return
        lines = [self._line(rundir.COMPLETIONS, row) for row in rows]  # all or none of a batch
        w = self._writer(rundir.COMPLETIONS)
        for line in lines:
            w.write_line(line)

    def event(self, event: str, **fields: Any) -> None:
        if not self.enabled:
            return
        obj = {"event": event, "time": round(time.time(), 3), **fields}
        line = self._line(rundir.EVENTS, obj)
        self._writer(rundir.EVENTS).write_line(line)

    def final_event(self, event: str, **fields: Any) -> None:
        """An event that reports how the job ended: when events.jsonl itself cannot take it (the
        error being reported may be about that file), the job's stderr line is the report."""
        from jobs.errors import JobsError

        try:
            self.event(event, **fields)
        except (JobsError, OSError, ValueError):
            pass

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
