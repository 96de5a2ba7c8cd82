"""Metrics of a run that writes no metrics.jsonl: the `log_history` of the Hugging Face Trainer's
`trainer_state.json` (what a `command` job running TRL or transformers leaves in its checkpoints).

`metrics_source(run_dir, fs)` is what the dashboard and `arcctl tail` read metrics through: the
run's metrics.jsonl while it has one (every trainer job, and scripts that log with the README's
helper), else a `TrainerStateTail` over the newest trainer_state.json. The Trainer rewrites that
file whole at each checkpoint (`checkpoint-N/trainer_state.json`) and, when the script calls
`save_state()`, once more in its output dir; the tail re-reads a file only when its size changed
and returns only the log entries it has not returned before, as metric rows (`step` plus every
numeric value under the Trainer's own names: `loss`, `grad_norm`, `learning_rate`, `reward`, …).
"""

from __future__ import annotations

import math
import time
from typing import Any

from jobs import rundir as rd

STATE = "trainer_state.json"
MAX_SUBDIRS = 32  # output dirs looked for one level below the run dir (`output_dir="out"`)
RESCAN_S = 2.0  # between directory listings: checkpoints are minutes apart, SFTP listings are not free
SKIP_DIRS = {rd.BRANCHES, "final", "eval", "wandb", "__pycache__"}
MAX_STATE_BYTES = 512 * 2**20  # ~1M log entries; a larger file is not the Trainer's


def metrics_source(run_dir: str, fs: rd.RunFS | None = None, rescan_s: float = RESCAN_S) -> "MetricsSource":
    """The reader of a run's metric rows (`read_new()`, `resets`, `path`)."""
    return MetricsSource(run_dir, fs or rd.LocalFS(), rescan_s)


class MetricsSource:
    """metrics.jsonl when the run has one, else trainer_state.json's log_history. Once
    metrics.jsonl appears it wins for good (rows taken from trainer_state.json are dropped:
    `resets` grows so a reader starts its history over)."""

    def __init__(self, run_dir: str, fs: rd.RunFS, rescan_s: float = RESCAN_S) -> None:
        self.run_dir = run_dir.rstrip("/") or "/"
        self.jsonl = rd.JsonlTail(f"{self.run_dir}/{rd.METRICS}", fs)
        self.state = TrainerStateTail(self.run_dir, fs, rescan_s)
        self._fs = fs
        self._use_jsonl = False
        self._state_resets = 0

    @property
    def path(self) -> str:
        """The file the rows come from (metrics.jsonl until a trainer_state.json is read)."""
        return self.jsonl.path if self._use_jsonl or self.state.path is None else self.state.path

    @property
    def resets(self) -> int:
        return self.jsonl.resets + self._state_resets

    @property
    def max_steps(self) -> int | None:
        """The planned steps of the trainer_state.json the rows come from (None for metrics.jsonl)."""
        return None if self._use_jsonl else self.state.max_steps

    @property
    def bad_lines(self) -> int:
        return self.jsonl.bad_lines

    def read_new(self, max_bytes: int | None = None) -> list[dict[str, Any]]:
        if not self._use_jsonl and self._fs.exists(self.jsonl.path):
            self._use_jsonl = True
            if self.state.returned:
                self._state_resets += 1
        if self._use_jsonl:
            return self.jsonl.read_new(max_bytes)
        before = self.state.resets
        rows = self.state.read_new()
        self._state_resets += self.state.resets - before
        return rows


class TrainerStateTail:
    """The log_history entries of a run's newest trainer_state.json not returned before."""

    def __init__(self, run_dir: str, fs: rd.RunFS, rescan_s: float = RESCAN_S) -> None:
        self.run_dir, self.fs, self.rescan_s = run_dir.rstrip("/") or "/", fs, rescan_s
        self.path: str | None = None  # the file the last rows came from
        self.returned = 0  # log entries returned so far
        self.resets = 0  # times a newer file did not continue what was returned
        self._last: dict[str, Any] | None = None
        self._seen: dict[str, tuple[int, int]] = {}  # path -> (size, global_step) of files read
        self.max_steps: int | None = None  # the run's planned steps, from the last file read
        self._next_scan = 0.0
        self._candidates: list[str] = []

    def read_new(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        if now >= self._next_scan:
            self._candidates = self._in_dir(self.run_dir, descend=True)
            self._next_scan = now + self.rescan_s
        fresh = {p: h for p in self._candidates if (h := self._read_if_changed(p)) is not None}
        known = [p for p in self._candidates if p in self._seen]
        if not known:
            return []
        # the file with the highest global_step; on a tie the one just rewritten (save_state's copy
        # adds the run's summary entry to the last checkpoint's history)
        path = max(known, key=lambda p: (self._seen[p][1], p in fresh))
        if path not in fresh:
            return []
        self.path = path
        entries = [e for e in fresh[path] if isinstance(e, dict)]
        if self.returned and not (len(entries) >= self.returned and entries[self.returned - 1] == self._last):
            # not a continuation of what was returned (a rerun that started over, a resume from an
            # earlier checkpoint): the whole history again
            self.resets += 1
            self.returned = 0
        new = entries[self.returned :]
        if not new:
            return []
        self.returned = len(entries)
        self._last = entries[-1]
        return [row for row in (log_entry_row(e) for e in new) if row is not None]

    def _in_dir(self, d: str, descend: bool) -> list[str]:
        """trainer_state.json files in `d` and in its newest checkpoint; with `descend`, the same in
        the folders below it (a script's own output dir). Names with a dot are files, not listed."""
        try:
            names = self.fs.listdir(d)
        except OSError:
            return []
        out = [f"{d}/{STATE}"] if STATE in names else []
        steps = [(s, n) for n in names if (s := rd.checkpoint_step(n)) is not None]
        if steps:
            out.append(f"{d}/{max(steps)[1]}/{STATE}")
        if descend:
            subdirs = sorted(
                n
                for n in names
                if rd.checkpoint_step(n) is None and n not in SKIP_DIRS and not n.startswith(".") and "." not in n
            )[:MAX_SUBDIRS]
            for n in subdirs:
                out += self._in_dir(f"{d}/{n}", descend=False)
        return out

    def _read_if_changed(self, path: str) -> list[Any] | None:
        """The log_history of a file that changed since it was last read (its size and global_step
        go to `_seen`), else None (also for a file that is gone, half-written or not a trainer state)."""
        try:
            size = self.fs.size(path)
            if self._seen.get(path, (None,))[0] == size or not 0 < size <= MAX_STATE_BYTES:
                return None  # unchanged; or empty, a FIFO or device (size 0, a read could block), or absurd
            state = rd.loads(self.fs.read_text(path))
        except (OSError, ValueError, RecursionError):
            return None  # gone (rotated by save_total_limit), caught mid-write (next time), or not JSON we take
        history = state.get("log_history") if isinstance(state, dict) else None
        if not isinstance(history, list):
            return None
        self._seen[path] = (size, _int(state.get("global_step")) or 0)
        self.max_steps = _int(state.get("max_steps")) or self.max_steps
        return history

    def latest_step(self) -> tuple[int, int | None] | None:
        """(global_step, max_steps) of the newest trainer_state.json, None without one."""
        self._candidates = self._in_dir(self.run_dir, descend=True)
        for path in self._candidates:
            self._read_if_changed(path)
        steps = [self._seen[p][1] for p in self._candidates if p in self._seen]
        return (max(steps), self.max_steps) if steps else None


def _int(v: Any) -> int | None:
    return rd.json_step(v)


def log_entry_row(entry: dict[str, Any]) -> dict[str, Any] | None:
    """A metric row from one log_history entry: its step and its finite numbers (None without a step)."""
    step = entry.get("step")
    if isinstance(step, float):  # TRL logs int steps; an integral float is taken as one
        step = int(step) if math.isfinite(step) and step.is_integer() else None
    # past 2**63-1 (10**400 overflowed isfinite) or a bool: none; a negative step is kept for the
    # readers to name (`tail`: "[invalid: step=-3]"; charts leave it out)
    if isinstance(step, bool) or not isinstance(step, int) or step > rd.MAX_STEP:
        return None
    row: dict[str, Any] = {"step": step}
    for k, v in entry.items():
        if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            row[k] = v
    return row
