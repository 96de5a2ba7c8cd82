"""RunView: everything the dashboard shows about one run dir, read incrementally over a RunFS.

Headless on purpose (no textual import): the UI only renders what this gives, and the same code
reads a local run dir (LocalFS) or a remote one (the SFTP RunFS in jobs/remote.py).

- MetricsHistory: columnar metrics (one float array per metric, NaN where a row lacks it), grown
  by byte offset; `series()` smooths (EMA) and downsamples to min/max buckets of chart width so a
  100k-step history redraws as fast as a 100-step one.
- CompletionIndex: a byte-offset line index of completions.jsonl built in chunks (numpy finds the
  newlines), plus step / reward / truncated per line pulled out of the raw bytes, so paging and
  the cheap filters never parse or hold the whole file; a page is one seek + one read.
- checkpoints with validity and the metrics at their step, events, stdout/stderr tails.
"""
from __future__ import annotations

import json
import math
import re
import threading
import time
from array import array
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from jobs import rundir as rd
from jobs.progress import Progress, ProgressTracker

CHUNK = 16 * 1024 * 1024
HEALTH_TAIL_BYTES = 32 * 1024 * 1024
HEALTH_SLICE = 200            # rows judged per slice
HEALTH_BUDGET_S = 0.03        # per refresh: a 100k-row backlog never delays the screen

# Metrics the run screen offers first (TRL names, then ours under arc/).
DEFAULT_CHARTS = ["reward", "reward_std", "frac_reward_zero_std", "kl", "entropy",
                  "completions/mean_length", "completions/clipped_ratio", "grad_norm"]


def _join(run_dir: str, name: str) -> str:
    return f"{run_dir.rstrip('/')}/{name}"


# ----------------------------------------------------------------------------------- metrics


class MetricsHistory:
    """Columnar metrics history, appended incrementally from metrics.jsonl."""

    def __init__(self) -> None:
        self.steps = array("d")
        self.columns: dict[str, array] = {}
        self._ema: dict[tuple[str, float], tuple[int, array]] = {}

    def __len__(self) -> int:
        return len(self.steps)

    def extend(self, rows: Iterable[dict[str, Any]]) -> int:
        """Append rows column by column (one pass per metric, not per cell: 100k rows in ~0.1 s)."""
        rows = [r for r in rows if _is_num(r.get("step")) and math.isfinite(r["step"])]
        if not rows:
            return 0
        n0, m = len(self.steps), len(rows)
        self.steps.extend(float(r["step"]) for r in rows)
        keys: set[str] = set()
        for r in rows:
            keys.update(r)
        keys -= {"step", "time"}
        for key in keys:
            col = self.columns.get(key)
            if col is None:
                col = array("d", [math.nan]) * n0
            vals = array("d", (float(v) if _is_num(v) else math.nan for v in (r.get(key) for r in rows)))
            if all(math.isnan(v) for v in vals) and key not in self.columns:
                continue  # never numeric (a string field): not a metric
            col.extend(vals)
            self.columns[key] = col
        for key, col in self.columns.items():
            if len(col) < n0 + m:
                col.extend(array("d", [math.nan]) * (n0 + m - len(col)))
        return m

    def names(self) -> list[str]:
        known = [m for m in DEFAULT_CHARTS if m in self.columns]
        rest = sorted(m for m in self.columns if m not in known and m not in ("epoch",))
        return known + [m for m in rest if m.startswith("arc/")] + [m for m in rest if not m.startswith("arc/")]

    def last(self, name: str) -> float | None:
        col = self.columns.get(name)
        if not col:
            return None
        for v in reversed(col):
            if not math.isnan(v):
                return v
        return None

    def last_step(self) -> int | None:
        return int(self.steps[-1]) if self.steps else None

    def row_at(self, step: int) -> dict[str, float]:
        """Metrics of the last logged row at or before `step` (what a checkpoint saw)."""
        if not self.steps:
            return {}
        xs = np.frombuffer(self.steps, dtype=np.float64)
        i = int(np.searchsorted(xs, step, side="right")) - 1
        if i < 0:
            return {}
        return {k: c[i] for k, c in self.columns.items() if i < len(c) and not math.isnan(c[i])}

    def _smoothed(self, name: str, alpha: float) -> array:
        """EMA over the full series, cached and extended only by the new rows."""
        col = self.columns[name]
        done, out = self._ema.get((name, alpha), (0, array("d")))
        prev = out[-1] if out else math.nan
        for i in range(done, len(col)):
            v = col[i]
            if not math.isnan(v):
                prev = v if math.isnan(prev) else alpha * v + (1 - alpha) * prev
            out.append(prev)
        self._ema[(name, alpha)] = (len(col), out)
        return out

    def series(self, name: str, width: int = 200, smoothing: float = 0.0,
               step_range: tuple[float, float] | None = None) -> tuple[list[float], list[float]]:
        """(steps, values) ready to plot: EMA-smoothed (smoothing in [0, 1): 0 = raw, 0.9 = heavy),
        NaNs dropped, and at most ~2*width points (min and max of each bucket keep the spikes)."""
        if name not in self.columns or not self.steps:
            return [], []
        col = self._smoothed(name, 1.0 - smoothing) if smoothing > 0 else self.columns[name]
        x = np.frombuffer(self.steps, dtype=np.float64)[: len(col)]
        y = np.frombuffer(col, dtype=np.float64)[: len(x)]
        if step_range is not None:
            lo, hi = np.searchsorted(x, step_range[0]), np.searchsorted(x, step_range[1], side="right")
            x, y = x[lo:hi], y[lo:hi]
        keep = ~np.isnan(y)
        x, y = x[keep], y[keep]
        return downsample(x, y, width)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def downsample(x: np.ndarray, y: np.ndarray, width: int) -> tuple[list[float], list[float]]:
    n = len(x)
    width = max(2, width)
    if n <= 2 * width:
        return x.tolist(), y.tolist()
    edges = np.linspace(0, n, width + 1).astype(np.int64)[:-1]
    mins = np.minimum.reduceat(y, edges)
    maxs = np.maximum.reduceat(y, edges)
    ends = np.append(edges[1:], n) - 1
    # Two points per bucket, its min and its max: the line still shows every spike, drawn at
    # roughly the right step.
    xs = np.empty(2 * width)
    ys = np.empty(2 * width)
    xs[0::2], xs[1::2] = x[edges], x[ends]
    rising = y[edges] <= y[ends]  # a falling bucket draws max then min, so the line keeps its shape
    ys[0::2] = np.where(rising, mins, maxs)
    ys[1::2] = np.where(rising, maxs, mins)
    return xs.tolist(), ys.tolist()


# ------------------------------------------------------------------------------- completions

# Plain literal prefixes keep these fast (a lookbehind would disable the regex engine's literal
# search: 40x slower); a match inside a JSON string is preceded by a backslash and skipped below.
_STEP_RE = re.compile(rb'"step":\s*(-?\d+)')
_REWARD_RE = re.compile(rb'"reward":\s*(-?[0-9][0-9.eE+-]*)')
_TRUNC_RE = re.compile(rb'"truncated":\s*true')


EXTRA_DIAG = ("solved", "pixel_score", "correct_train", "correct_test", "augmentation", "detail")


@dataclass
class Completion:
    """One completions.jsonl record, normalised (the trainer's field names vary a little)."""

    line: int
    step: int | None
    task: str
    text: str
    reward: float | None
    tokens: int | None
    truncated: bool
    error: str | None
    diagnostics: dict[str, Any]
    id: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_obj(cls, line: int, obj: dict[str, Any]) -> "Completion":
        diag = obj.get("diag") or obj.get("diagnostics") or {}
        diag = dict(diag) if isinstance(diag, dict) else {"diag": diag}
        for k in EXTRA_DIAG:  # per-completion outcome fields the trainer writes next to `diag`
            if obj.get(k) is not None:
                diag.setdefault(k, obj[k])
        text = obj.get("completion", obj.get("text", ""))
        if not isinstance(text, str):
            text = json.dumps(text)
        tokens = _first(obj, "n_tokens", "tokens", "completion_tokens", "token_count", "length")
        error = _first(obj, "error", "error_kind") or diag.get("error") or diag.get("error_kind")
        cid = obj.get("id")
        return cls(
            line=line,
            step=_int(obj.get("step")),
            task=str(_first(obj, "task", "task_id") or ""),
            text=text,
            reward=_float(obj.get("reward")),
            tokens=_int(tokens),
            truncated=bool(obj.get("truncated", False)),
            error=str(error) if error else None,
            diagnostics=diag,
            id=str(cid) if cid is not None else f"L{line}",
            raw=obj,
        )


def _first(obj: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if obj.get(k) is not None:
            return obj[k]
    return None


def _int(v: Any) -> int | None:
    try:
        return int(v) if v is not None and not isinstance(v, bool) else None
    except (TypeError, ValueError, OverflowError):
        return None


def _float(v: Any) -> float | None:
    try:
        return float(v) if v is not None and not isinstance(v, bool) else None
    except (TypeError, ValueError):
        return None


@dataclass
class CompletionFilter:
    truncated_only: bool = False
    error: str | None = None           # error kind substring; "*" = any error
    reward_min: float | None = None
    reward_max: float | None = None
    text: str | None = None            # case-insensitive substring of the raw line
    task: str | None = None
    step: int | None = None
    order: str = "file"                # "file", "best", "worst"

    def needs_parse(self) -> bool:
        return bool(self.error or self.task)

    def is_empty(self) -> bool:
        return self == CompletionFilter()


class CompletionIndex:
    """Byte-offset index of completions.jsonl; grows with `update()`, reads one page at a time."""

    def __init__(self, fs: rd.RunFS, path: str) -> None:
        self.fs, self.path = fs, path
        self.starts = array("q")      # byte offset of each complete line
        self.ends = array("q")        # byte offset just past its newline
        self.step = array("q")        # -1 when absent
        self.reward = array("f")      # NaN when absent
        self.trunc = array("b")
        self.indexed_bytes = 0
        self.bad_lines = 0
        self._lock = threading.RLock()  # the UI's refresh worker and a filter worker may both index

    def __len__(self) -> int:
        return len(self.starts)

    def file_size(self) -> int:
        try:
            return self.fs.size(self.path)
        except OSError:
            return 0

    def update(self, max_bytes: int | None = CHUNK) -> int:
        """Index up to max_bytes more of the file; returns the number of new lines. A torn last
        line stays unindexed until its newline arrives."""
        if max_bytes == 0:
            return 0
        with self._lock:
            return self._update(max_bytes)

    def _update(self, max_bytes: int | None) -> int:
        size = self.file_size()
        if size < self.indexed_bytes:  # replaced or truncated: start over
            for arr in (self.starts, self.ends, self.step, self.reward, self.trunc):
                del arr[:]
            self.indexed_bytes = 0
        if size <= self.indexed_bytes:
            return 0
        want = size - self.indexed_bytes if max_bytes is None else min(max_bytes, size - self.indexed_bytes)
        with self.fs.open_binary(self.path) as f:
            f.seek(self.indexed_bytes)
            chunk = f.read(want)
        last_nl = chunk.rfind(b"\n")
        if last_nl < 0:
            if want < size - self.indexed_bytes:  # a single line longer than the chunk: read on
                return self._update(None if max_bytes is None else max_bytes * 4)
            return 0
        chunk = chunk[: last_nl + 1]
        base = self.indexed_bytes
        nl = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
        starts = np.concatenate(([0], nl[:-1] + 1))
        ends = nl + 1
        nonblank = ends - starts > 1
        starts, ends = starts[nonblank], ends[nonblank]
        n = len(starts)
        steps = np.full(n, -1, dtype=np.int64)
        rewards = np.full(n, np.nan, dtype=np.float32)
        trunc = np.zeros(n, dtype=np.int8)
        # First match per line, found on the whole chunk and mapped to lines by offset.
        for rx, fill in ((_STEP_RE, "step"), (_REWARD_RE, "reward"), (_TRUNC_RE, "trunc")):
            pos, vals = [], []
            for m in rx.finditer(chunk):
                if m.start() and chunk[m.start() - 1] == 92:  # \" : inside a string value
                    continue
                pos.append(m.start())
                vals.append(m.group(1) if m.groups() else b"1")
            if not pos:
                continue
            li = np.searchsorted(ends, np.asarray(pos), side="right")
            li_ok = li < n
            seen: set[int] = set()
            for j, line_i in enumerate(li.tolist()):
                if not li_ok[j] or line_i in seen:
                    continue
                seen.add(line_i)
                try:
                    if fill == "step":
                        steps[line_i] = int(vals[j])
                    elif fill == "reward":
                        rewards[line_i] = float(vals[j])
                    else:
                        trunc[line_i] = 1
                except (ValueError, OverflowError):  # not a number, or one past int64 / float range
                    pass
        self.starts.extend((starts + base).tolist())
        self.ends.extend((ends + base).tolist())
        self.step.extend(steps.tolist())
        self.reward.extend(rewards.tolist())
        self.trunc.extend(trunc.tolist())
        self.indexed_bytes = base + len(chunk)
        return n

    def update_all(self) -> int:
        total = 0
        while True:
            before = self.indexed_bytes
            total += self.update()
            if self.indexed_bytes == before:
                return total

    @property
    def complete(self) -> bool:
        return self.indexed_bytes >= self.file_size()

    def read(self, lines: list[int]) -> list[Completion]:
        """Parse the given line numbers; contiguous runs are read with one seek + read each."""
        out: list[Completion] = []
        if not lines:
            return out
        with self.fs.open_binary(self.path) as f:
            run = [lines[0]]
            for i in lines[1:] + [None]:  # type: ignore[list-item]
                if i is not None and i == run[-1] + 1 and len(run) < 512:
                    run.append(i)
                    continue
                f.seek(self.starts[run[0]])
                blob = f.read(self.ends[run[-1]] - self.starts[run[0]])
                for k, line_i in enumerate(run):
                    a = self.starts[line_i] - self.starts[run[0]]
                    b = self.ends[line_i] - self.starts[run[0]]
                    out.append(self._parse(line_i, blob[a:b]))
                if i is not None:
                    run = [i]
        return out

    def _parse(self, line_i: int, raw: bytes) -> Completion:
        try:
            obj = rd.loads(raw)
            if not isinstance(obj, dict):
                raise ValueError("not an object")
        except ValueError:
            obj = {"completion": raw.decode("utf-8", "replace"), "error": "malformed line"}
        return Completion.from_obj(line_i, obj)

    def steps(self) -> list[int]:
        return sorted(set(s for s in self.step if s >= 0))

    def first_line_of_step(self, step: int) -> int | None:
        for i, s in enumerate(self.step):
            if s >= step:
                return i
        return None

    # -- filters ------------------------------------------------------------------------
    def candidates(self, flt: CompletionFilter) -> np.ndarray:
        """Line numbers passing the cheap (indexed) filters, in display order."""
        n = len(self)
        idx = np.arange(n)
        if n == 0:
            return idx
        mask = np.ones(n, dtype=bool)
        if flt.truncated_only:
            mask &= np.frombuffer(self.trunc, dtype=np.int8)[:n] == 1
        rw = np.frombuffer(self.reward, dtype=np.float32)[:n]
        if flt.reward_min is not None:
            mask &= rw >= flt.reward_min
        if flt.reward_max is not None:
            mask &= rw <= flt.reward_max
        if flt.step is not None:
            mask &= np.frombuffer(self.step, dtype=np.int64)[:n] == flt.step
        idx = idx[mask]
        if flt.order in ("best", "worst"):
            r = rw[idx]
            r = np.where(np.isnan(r), -np.inf if flt.order == "best" else np.inf, r)
            order = np.argsort(-r if flt.order == "best" else r, kind="stable")
            idx = idx[order]
        return idx

    def page(self, flt: CompletionFilter, start: int = 0, size: int = 20,
             scan_limit: int = 200_000) -> tuple[list[Completion], int | None]:
        """One page of matching completions from candidate position `start`; returns the page
        and the candidate position to continue from (None at the end). Text/task/error filters
        read only as many lines as they need to fill the page."""
        cand = self.candidates(flt)
        out: list[Completion] = []
        pos = start
        needle = flt.text.lower().encode() if flt.text else None
        while pos < len(cand) and len(out) < size and pos - start < scan_limit:
            batch = cand[pos: pos + max(size * 4, 64)].tolist()
            pos += len(batch)
            for c in self.read(sorted(batch)) if flt.order == "file" else self._read_ordered(batch):
                if needle is not None and needle not in c.text.lower().encode() and needle not in json.dumps(c.diagnostics).lower().encode():
                    continue
                if flt.task and flt.task not in c.task:
                    continue
                if flt.error and not (c.error and (flt.error == "*" or flt.error.lower() in c.error.lower())):
                    continue
                out.append(c)
                if len(out) == size:
                    # continue right after this one next time
                    pos = pos - len(batch) + batch.index(c.line) + 1
                    break
        return out, (pos if pos < len(cand) else None)

    def _read_ordered(self, lines: list[int]) -> list[Completion]:
        by_line = {c.line: c for c in self.read(sorted(lines))}
        return [by_line[i] for i in lines]

    def find_id(self, cid: str, max_lines: int = 1_000_000) -> Completion | None:
        """The completion with this id (or `L<line>`); scans raw bytes for the id string."""
        if cid.startswith("L") and cid[1:].isdigit() and int(cid[1:]) < len(self):
            return self.read([int(cid[1:])])[0]
        needle = json.dumps(cid).encode()
        n = min(len(self), max_lines)
        for a in range(0, n, 2048):
            lines = list(range(a, min(n, a + 2048)))
            with self.fs.open_binary(self.path) as f:
                f.seek(self.starts[lines[0]])
                blob = f.read(self.ends[lines[-1]] - self.starts[lines[0]])
            if needle not in blob:
                continue
            for c in self.read(lines):
                if c.id == cid:
                    return c
        return None


# ---------------------------------------------------------------------------- text tails


class TextTail:
    """The last lines of a growing text file (stdout/stderr), read by byte offset."""

    def __init__(self, fs: rd.RunFS, path: str, keep: int = 500, first_read: int = 256 * 1024) -> None:
        self.fs, self.path, self.keep, self.first_read = fs, path, keep, first_read
        self.offset = -1
        self.lines: list[str] = []
        self.total = 0  # lines ever read, so a viewer can tell which of `lines` it has not shown
        self._partial = b""

    def update(self) -> list[str]:
        try:
            size = self.fs.size(self.path)
        except OSError:
            return []
        if self.offset < 0 or size < self.offset:
            self.offset = max(0, size - self.first_read)
            self.lines, self._partial = [], b""
        if size == self.offset:
            return []
        with self.fs.open_binary(self.path) as f:
            f.seek(self.offset)
            data = f.read(size - self.offset)
        self.offset += len(data)
        data = self._partial + data
        parts = data.split(b"\n")
        self._partial = parts.pop()
        # A progress bar rewrites its line with \r: keep what the terminal would show last.
        new = [_last_segment(p.decode("utf-8", "replace")) for p in parts]
        self.lines.extend(new)
        self.total += len(new)
        del self.lines[: -self.keep]
        return new


def _last_segment(line: str) -> str:
    if "\r" not in line:
        return line
    segs = [x for x in line.split("\r") if x.strip()]
    return segs[-1] if segs else ""


# ------------------------------------------------------------------------------- run view


class SerializedFS:
    """A RunFS that lets one request through at a time. The dashboard reads from several worker
    threads (refresh, a completions page, the jobs table); paramiko's SFTP client deadlocked when
    three of them shared one channel, so remote file systems are wrapped in this."""

    def __init__(self, fs: rd.RunFS) -> None:
        self.inner = fs
        self._lock = threading.RLock()

    def open_binary(self, path: str) -> "_SerializedFile":
        with self._lock:
            return _SerializedFile(self.inner.open_binary(path), self._lock)

    def size(self, path: str) -> int:
        with self._lock:
            return self.inner.size(path)

    def exists(self, path: str) -> bool:
        with self._lock:
            return self.inner.exists(path)

    def listdir(self, path: str) -> list[str]:
        with self._lock:
            return self.inner.listdir(path)

    def read_text(self, path: str) -> str:
        with self._lock:
            return self.inner.read_text(path)


class _SerializedFile:
    def __init__(self, f: Any, lock: Any) -> None:
        self._f, self._lock = f, lock

    def seek(self, offset: int, whence: int = 0) -> int:
        with self._lock:
            return self._f.seek(offset, whence)

    def read(self, n: int = -1) -> bytes:
        with self._lock:
            return self._f.read(n)

    def close(self) -> None:
        with self._lock:
            self._f.close()

    def __enter__(self) -> "_SerializedFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


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


class RunView:
    """One run dir, read incrementally. `refresh()` pulls whatever is new and says what changed."""

    def __init__(self, run_dir: str, fs: rd.RunFS | None = None) -> None:
        self.run_dir = run_dir.rstrip("/") or "/"
        fs = fs or rd.LocalFS()
        self.fs: rd.RunFS = fs if isinstance(fs, (rd.LocalFS, SerializedFS)) else SerializedFS(fs)
        self._refresh_lock = threading.Lock()
        self.metrics = MetricsHistory()
        self.progress_tracker = ProgressTracker()
        self._metrics_tail = rd.JsonlTail(_join(self.run_dir, rd.METRICS), self.fs)
        self._events_tail = rd.JsonlTail(_join(self.run_dir, rd.EVENTS), self.fs)
        self.events: list[dict[str, Any]] = []
        self.completions = CompletionIndex(self.fs, _join(self.run_dir, rd.COMPLETIONS))
        self.stdout = TextTail(self.fs, _join(self.run_dir, rd.STDOUT))
        self.stderr = TextTail(self.fs, _join(self.run_dir, rd.STDERR))
        self._spec: dict[str, Any] | None = None
        self.spec_error: str | None = None
        self.exit_code_value: int | None = None
        self._monitor: Any = None  # jobs.health.HealthMonitor, fed with the same incremental reads
        self._health_metrics: list[dict[str, Any]] = []  # rows read but not yet judged (backlog)
        self._health_completions: list[dict[str, Any]] = []
        self.health_error: str | None = None

    # -- reading -------------------------------------------------------------------------
    def refresh(self, completion_bytes: int | None = CHUNK, wait: bool = True) -> set[str] | None:
        """Read what is new. With wait=False, returns None at once when another thread is
        refreshing this view already (a slow remote read must not pile up UI ticks)."""
        if not self._refresh_lock.acquire(blocking=wait):
            return None
        try:
            return self._refresh(completion_bytes)
        finally:
            self._refresh_lock.release()

    def _refresh(self, completion_bytes: int | None) -> set[str]:
        changed: set[str] = set()
        resets = self._metrics_tail.resets
        rows = self._metrics_tail.read_new()
        if self._metrics_tail.resets != resets:
            # metrics.jsonl was replaced by a shorter one (a resume from an earlier checkpoint moved
            # the later steps aside): the history and its health judgement start over
            self.metrics = MetricsHistory()
            self.progress_tracker = ProgressTracker()
            self._monitor = None
            self._health_metrics.clear()
            self._health_completions.clear()
        self.progress_tracker.feed(rows)
        if self.metrics.extend(rows):
            changed.add("metrics")
        new_events = self._events_tail.read_new()
        if new_events:
            self.events.extend(new_events)
            changed.add("events")
        n0 = len(self.completions)
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

    def name(self) -> str:
        return str(self.spec.get("name") or self.run_dir.rsplit("/", 1)[-1])

    def exit_code(self) -> int | None:
        """The exit code seen by the last refresh (None while running)."""
        return self.exit_code_value

    def progress(self) -> Progress:
        """Step / total, smoothed speed and ETA from the rows read so far (no I/O)."""
        params = self.spec.get("params") if isinstance(self.spec, dict) else None
        return self.progress_tracker.estimate(params if isinstance(params, dict) else None,
                                              done=self.exit_code_value is not None)

    def _read_exit_code(self) -> int | None:
        try:
            return int(self.fs.read_text(_join(self.run_dir, rd.EXIT_CODE)).strip())
        except (OSError, ValueError):
            return None

    def checkpoints(self) -> list[CheckpointRow]:
        return [CheckpointRow(c.name, c.step, c.valid, c.problem, c.path, self.metrics.row_at(c.step))
                for c in rd.list_checkpoints(self.run_dir, self.fs)]

    def alerts(self) -> list[Alert]:
        """Collapse alerts: those in events.jsonl (the trainer's guard writes them) and those
        jobs.health finds in what this view has read so far."""
        # One alert per (rule, first step), at the highest severity it reached: the guard writes an
        # event each time a rule's severity rises, so the first event of a rule is often "watch".
        out: list[Alert] = []
        where: dict[tuple[str, Any], int] = {}
        candidates = [_alert_from_dict(ev) for ev in self.events
                      if ev.get("event") in (rd.EV_COLLAPSE, "alert", rd.EV_ROLLBACK)]
        for a in candidates + self._health_alerts():
            key = (a.rule, a.first_step)
            if key not in where:
                where[key] = len(out)
                out.append(a)
            elif _SEVERITY_RANK.get(a.severity, 1) > _SEVERITY_RANK.get(out[where[key]].severity, 1):
                out[where[key]] = a
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
                self._monitor = HealthMonitor(th, mcl)
            comp = self.completions
            self._health_metrics.extend(metric_rows)
            if len(comp) > first_new_line and comp.file_size() - comp.starts[first_new_line] < HEALTH_TAIL_BYTES:
                self._health_completions.extend(c.raw for c in comp.read(list(range(first_new_line, len(comp)))))
            if not self._health_metrics and not self._health_completions:
                return False
            raised = False
            t_end = time.monotonic() + HEALTH_BUDGET_S
            while self._health_metrics or self._health_completions:
                rows = self._health_metrics[:HEALTH_SLICE]
                del self._health_metrics[:HEALTH_SLICE]
                last = rows[-1].get("step") if rows else None
                if self._health_metrics and isinstance(last, (int, float)):
                    # completions of later steps wait for their metrics rows
                    comps = [c for c in self._health_completions if (c.get("step") or 0) <= last]
                    self._health_completions = [c for c in self._health_completions if (c.get("step") or 0) > last]
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
    ev = d.get("evidence") or {}
    ids = d.get("example_ids") or d.get("completion_ids") or []
    if isinstance(ev, dict):
        ids = ids or ev.get("example_ids") or ev.get("completion_ids") or ev.get("examples") or []
    ids = [i.get("id") if isinstance(i, dict) else i for i in ids]  # health gives example dicts
    msg = d.get("message") or d.get("detail") or (json.dumps(ev, default=str)[:200] if ev else "")
    return Alert(
        rule=str(d.get("rule") or d.get("kind") or d.get("event") or "alert"),
        severity=str(d.get("severity") or "warning"),
        first_step=_int(d.get("first_step", d.get("step"))),
        message=str(msg),
        example_ids=[str(i) for i in ids if i is not None][:20],
    )


def ngram_repeats(text: str, n: int = 4, min_count: int = 3) -> list[tuple[int, int]]:
    """Character spans of word n-grams that occur at least min_count times (to highlight)."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    if len(words) < n:
        return []
    counts: dict[tuple[str, ...], list[int]] = {}
    toks = [text[a:b] for a, b in words]
    for i in range(len(words) - n + 1):
        counts.setdefault(tuple(toks[i:i + n]), []).append(i)
    spans = []
    for starts in counts.values():
        if len(starts) >= min_count:
            spans.extend((words[i][0], words[i + n - 1][1]) for i in starts)
    return _merge(spans)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def matches(pattern: str, text: str) -> bool:
    """The jobs-table filter: a regex (case-insensitive); a leading `!` inverts it. A bad regex
    falls back to a plain substring match rather than failing."""
    invert = pattern.startswith("!")
    pat = pattern[1:] if invert else pattern
    try:
        hit = re.search(pat, text, re.IGNORECASE) is not None
    except re.error:
        hit = pat.lower() in text.lower()
    return hit != invert


Predicate = Callable[[Completion], bool]
