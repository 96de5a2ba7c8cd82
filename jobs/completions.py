"""Completions of a run: `Completion` (one record as the screen shows it), `CompletionFilter`,
and `CompletionIndex`, a byte-offset line index of completions.jsonl built in chunks (numpy finds
the newlines), plus step / reward / truncated per line pulled out of the raw bytes, so paging and
the cheap filters never parse or hold the whole file; a page is one seek + one read.
"""

from __future__ import annotations

import json
import math
import re
import threading
from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jobs.rundir import LONG_LINE_HEAD, MAX_LINE_BYTES, LineReader, RunFS, json_number, json_step, loads

CHUNK = 16 * 1024 * 1024

# Plain literal prefixes keep these fast (a lookbehind would disable the regex engine's literal
# search: 40x slower); a match inside a JSON string is preceded by a backslash and skipped below.
_STEP_RE = re.compile(rb'"step":\s*(-?\d+)(?![\d.eE])')  # an integer: 5.5 or 5e3 is no step
_F32_MAX = float(np.finfo(np.float32).max)
_REWARD_RE = re.compile(rb'"reward":\s*(-?[0-9][0-9.eE+-]*)')
_TRUNC_RE = re.compile(rb'"truncated":\s*true')


OUTCOME_FIELDS = ("reward_arc", "solved", "pixel_score", "correct_train", "correct_test", "augmentation")


@dataclass
class Completion:
    """One completions.jsonl record as the completions screen shows it."""

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
        """From a completions.jsonl record (jobs.records.CompletionRecord); a field that is missing
        or of the wrong type reads as absent."""
        diag = obj.get("diag")
        diag = dict(diag) if isinstance(diag, dict) else {}
        for k in OUTCOME_FIELDS:  # per-completion outcome fields shown with the diagnostics
            if obj.get(k) is not None:
                diag.setdefault(k, obj[k])
        text = obj.get("completion")
        if not isinstance(text, str):
            text = "" if text is None else json.dumps(text)
        error = obj.get("error")
        cid = obj.get("id")
        return cls(
            line=line,
            step=_int(obj.get("step")),
            task=str(obj.get("task_id") or ""),
            text=text,
            reward=_float(obj.get("reward")),
            tokens=_int(obj.get("n_tokens")),
            truncated=obj.get("truncated") is True,
            error=str(error) if error else None,
            diagnostics=diag,
            id=str(cid) if cid is not None else f"L{line}",
            raw=obj,
        )


def _int(v: Any) -> int | None:
    """A step or token count: only a JSON integer >= 0 (jobs.rundir.json_step; never a bool)."""
    return json_step(v)


def _float(v: Any) -> float | None:
    """A reward: only a finite JSON number (not a bool, not a string that looks like one, not 1e999)."""
    v = json_number(v)
    return None if v is None else float(v)


@dataclass
class CompletionFilter:
    truncated_only: bool = False
    error: str | None = None  # error kind substring; "*" = any error
    reward_min: float | None = None
    reward_max: float | None = None
    text: str | None = None  # case-insensitive substring of the raw line
    task: str | None = None
    step: int | None = None
    order: str = "file"  # "file", "best", "worst"

    def is_empty(self) -> bool:
        return self == CompletionFilter()


class CompletionIndex:
    """Byte-offset index of completions.jsonl; grows with `update()`, reads one page at a time."""

    def __init__(self, fs: RunFS, path: str) -> None:
        self.fs, self.path = fs, path
        self.starts = array("q")  # byte offset of each complete line
        self.ends = array("q")  # byte offset just past its newline
        self.step = array("q")  # -1 when absent
        self.reward = array("f")  # NaN when absent
        self.trunc = array("b")
        self.indexed_bytes = 0
        self._lines = LineReader(path, fs)
        # The UI's refresh worker and a filter worker may both index: _io_lock keeps their reads in
        # order; _lock, held only to grow or look at the arrays, keeps a page (numpy views of the
        # arrays) from meeting an append, without waiting for a chunk being read.
        self._io_lock = threading.Lock()
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self.starts)

    def file_size(self) -> int:
        return self._lines.size()

    def update(self, max_bytes: int | None = CHUNK) -> int:
        """Index up to max_bytes more of the file; returns the number of new lines. A torn last
        line stays unindexed until its newline arrives."""
        if max_bytes == 0:
            return 0
        with self._io_lock:
            return self._update(max_bytes)

    def _update(self, max_bytes: int | None) -> int:
        pieces = self._lines.read_pieces(max_bytes)
        if self._lines.restarted:  # replaced or truncated: start over
            with self._lock:
                for arr in (self.starts, self.ends, self.step, self.reward, self.trunc):
                    del arr[:]
        if not pieces:
            self.indexed_bytes = self._lines.offset
            return 0
        return sum(self._index(start, end, data) for start, end, data in pieces)

    def _index(self, base: int, end: int, chunk: bytes) -> int:
        """Index the lines of CHUNK, the file's bytes from BASE; or, when CHUNK is not END - BASE
        bytes long, the one line past MAX_LINE_BYTES it is the cut start of (BASE..END)."""
        nl = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
        if len(chunk) != end - base:  # a cut line: one line, its true extent
            nl = np.asarray([end - base - 1])
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
                    elif fill == "reward":  # 1e999 parses as inf: not finite reads as absent (NaN)
                        r = float(vals[j])  # a finite one past float32 is held at its largest value
                        rewards[line_i] = min(max(r, -_F32_MAX), _F32_MAX) if math.isfinite(r) else np.nan
                    else:
                        trunc[line_i] = 1
                except (ValueError, OverflowError):  # not a number, or one past int64 / float range
                    pass
        with self._lock:
            self.starts.extend((starts + base).tolist())
            self.ends.extend((ends + base).tolist())
            self.step.extend(steps.tolist())
            self.reward.extend(rewards.tolist())
            self.trunc.extend(trunc.tolist())
            self.indexed_bytes = self._lines.offset
        return n

    def update_until(self, lines: int, max_bytes: int | None = CHUNK) -> int:
        """Index up to max_bytes more unless LINES lines are indexed by then (an update under way
        in another thread is waited for, not repeated); returns the number of new lines."""
        if max_bytes == 0:
            return 0
        with self._io_lock:
            return self._update(max_bytes) if len(self) < lines else 0

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
                out.extend(self._read_run(f, run))
                if i is not None:
                    run = [i]
        return out

    def _read_run(self, f: Any, run: list[int]) -> list[Completion]:
        """Lines RUN (consecutive) with one seek and read; a line past MAX_LINE_BYTES (a hostile
        file) is read only up to LONG_LINE_HEAD bytes and shown as a malformed line."""
        if any(self.ends[i] - self.starts[i] > MAX_LINE_BYTES for i in run):
            out = []
            for i in run:
                f.seek(self.starts[i])
                length = self.ends[i] - self.starts[i]
                raw = f.read(min(length, LONG_LINE_HEAD)) if length > MAX_LINE_BYTES else f.read(length)
                out.append(self._parse(i, raw))
            return out
        f.seek(self.starts[run[0]])
        blob = f.read(self.ends[run[-1]] - self.starts[run[0]])
        return [
            self._parse(i, blob[self.starts[i] - self.starts[run[0]] : self.ends[i] - self.starts[run[0]]]) for i in run
        ]

    def _parse(self, line_i: int, raw: bytes) -> Completion:
        try:
            obj = loads(raw)
            if not isinstance(obj, dict):
                raise ValueError("not an object")
        except ValueError:
            obj = {"completion": raw.decode("utf-8", "replace"), "error": "malformed line"}
        return Completion.from_obj(line_i, obj)

    def steps(self) -> list[int]:
        return sorted(set(s for s in self.step if s >= 0))

    def first_line_of_step(self, step: int) -> int | None:
        """The first indexed line at or after `step` (lines are in step order)."""
        for i, s in enumerate(self.step):
            if s >= step:
                return i
        return None

    # -- filters ------------------------------------------------------------------------
    def candidates(self, flt: CompletionFilter) -> np.ndarray:
        """Line numbers passing the cheap (indexed) filters, in display order."""
        with self._lock:  # numpy views of the arrays: no append may resize them meanwhile
            return self._candidates(flt)

    def _candidates(self, flt: CompletionFilter) -> np.ndarray:
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

    def page(
        self, flt: CompletionFilter, start: int = 0, size: int = 20, scan_limit: int = 200_000
    ) -> tuple[list[Completion], int | None]:
        """One page of matching completions from candidate position `start`; returns the page
        and the candidate position to continue from (None at the end). Text/task/error filters
        read only as many lines as they need to fill the page."""
        cand = self.candidates(flt)
        out: list[Completion] = []
        pos = start
        needle = flt.text.lower().encode() if flt.text else None
        # the text/task/error filters read more lines than they keep; without them a page is
        # exactly its lines (one read)
        ahead = max(size * 4, 64) if needle is not None or flt.task or flt.error else size
        while pos < len(cand) and len(out) < size and pos - start < scan_limit:
            batch = cand[pos : pos + ahead].tolist()
            pos += len(batch)
            for c in self.read(sorted(batch)) if flt.order == "file" else self._read_ordered(batch):
                if (
                    needle is not None
                    and needle not in c.text.lower().encode()
                    and needle not in json.dumps(c.diagnostics).lower().encode()
                ):
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
            if self.ends[lines[-1]] - self.starts[lines[0]] > MAX_LINE_BYTES:  # a huge line among them:
                found = [c for c in self.read(lines) if c.id == cid]  # each read bounded by read()
                if found:
                    return found[0]
                continue
            with self.fs.open_binary(self.path) as f:
                f.seek(self.starts[lines[0]])
                blob = f.read(self.ends[lines[-1]] - self.starts[lines[0]])
            if needle not in blob:
                continue
            for c in self.read(lines):
                if c.id == cid:
                    return c
        return None
