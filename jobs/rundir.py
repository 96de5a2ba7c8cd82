"""The run directory: the one contract between trainer and console (docs/run-dir.md; the record
types are in jobs.records).

Writers append whole JSON lines and flush; readers keep a byte offset and only read what is new,
tolerating a torn last line (it is re-read once it is complete). The one exception: a resume from
an earlier checkpoint-N rewrites metrics.jsonl and completions.jsonl with their rows up to step N
(the later ones move to branches/<time>-from-checkpoint-N/); a file found shorter than a reader's
offset was replaced that way and is read again from its start.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

# the file systems moved to jobs.runfs; their names stay importable from here, where readers
# have always found them
from jobs.runfs import (  # noqa: F401
    DeferredFS,
    LocalFS,
    RunFS,
    SerializedFS,
    fs_for_host,
    read_regular_text,
)

SPEC = "spec.json"
METRICS = "metrics.jsonl"
COMPLETIONS = "completions.jsonl"
EVENTS = "events.jsonl"
STDOUT = "stdout.log"
STDERR = "stderr.log"
EXIT_CODE = "exit_code"
CHECKPOINT_PREFIX = "checkpoint-"
# what a resume from an earlier checkpoint moved aside: branches/<time>-from-checkpoint-N/
BRANCHES = "branches"

# events.jsonl "event" values
EV_STARTED = "started"
EV_CHECKPOINT = "checkpoint_saved"
EV_STOPPED = "stopped"
EV_ERROR = "error"
EV_COLLAPSE = "collapse_warning"
EV_ROLLBACK = "rollback"
EV_WARNING = "warning"
EV_RESUMED = "resumed"  # a resume in place from checkpoint-N; names the branch moved aside

# What went wrong with a program, per completion (`error` in completions.jsonl); None when it ran
# and returned grids. Here, not in jobs.records, so the sandbox workers import no pydantic.
ERROR_KINDS = ("parse", "unsafe", "timeout", "memory", "exception", "invalid_output", "nondeterministic")


def json_bool(value: Any) -> bool | None:
    """A run-dir boolean field (`truncated`, `solved`): only a JSON true/false counts; anything
    else (the string "no", 0, 1, null) is None, read as missing. In Python a bool is an int and a
    non-empty string is truthy, so `bool(v)` or `if v` would read "no" as true."""
    return value if isinstance(value, bool) else None


# The largest signed 64-bit integer: what SQLite holds, and the limit of every number read here
MAX_INT = 2**63 - 1
# No step past a signed 64-bit integer: 10**400 overflowed every float conversion (charts, rates)
# and `checkpoint-<21 digits>` sorted past every real checkpoint.
MAX_STEP = MAX_INT


def decimal_int(text: object) -> int | None:
    """TEXT (a str) as a number in ASCII digits, at most MAX_INT; None for anything else. Only
    ASCII: str.isdigit() is also true of "²", which int() refuses; at most 19 digits before int():
    int() of 5000 digits is a ValueError ("Exceeds the limit … for integer string conversion")."""
    if not (isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 19):
        return None
    value = int(text)
    return value if value <= MAX_INT else None


def json_step(value: Any) -> int | None:
    """A run-dir `step` field: only a JSON integer 0..MAX_STEP; a bool (True is an int in Python),
    a float, a string, a negative or a larger number is None, read as missing."""
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_STEP
    return value if ok else None


def json_number(value: Any) -> float | int | None:
    """A numeric run-dir field (a metric, `reward`, a score): a finite JSON number, not a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def invalid_value(value: Any, limit: int = 24) -> str:
    """A field value that failed its check, as JSON cut to LIMIT characters, for a notice."""
    try:
        text = json.dumps(value, default=str)
    except (ValueError, TypeError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_GLUE_TRIES = 64
# LineReader: a line longer than MAX_LINE_BYTES (a hostile or broken file: one 500 MB line) is
# returned cut to its first LONG_LINE_HEAD bytes; reading all that is new goes in READ_PIECE reads.
MAX_LINE_BYTES = 16 << 20
LONG_LINE_HEAD = 64 << 10
READ_PIECE = 16 << 20


def json_int(digits: str) -> int | float:
    # An integer past float range (1e400 written out) would raise OverflowError wherever a reader
    # turns it into a float: read it as inf, the value 1e400 gets, which readers already handle.
    return int(digits) if len(digits) < 309 else float(digits)


_DECODER = json.JSONDecoder(parse_int=json_int)


def loads(raw: str | bytes) -> Any:
    """json.loads for files written by others; its only failure is ValueError. The C decoder
    raises RecursionError on deeply nested input (e.g. 100k `[`), caught here."""
    try:
        return _DECODER.decode(raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _glued_record(line: bytes) -> Any:
    """The complete object at the end of a line that does not parse as a whole, or None.

    A writer killed mid-line leaves a torn last line; the next writer (a resumed run) appends its
    first record right after it, on the same line. That record is the suffix starting at some
    `{` which decodes exactly to the end of the line."""
    text = line.decode("utf-8", "replace").rstrip()
    dec = json.JSONDecoder()
    # `{"` outside a string starts an object (inside one the quote is escaped); few per line.
    pos = text.find('{"', 1)
    for _ in range(_GLUE_TRIES):
        if pos < 0:
            break
        try:
            obj, end = dec.raw_decode(text, pos)
        except (ValueError, RecursionError):
            obj, end = None, -1
        if end == len(text) and isinstance(obj, dict):
            return obj
        pos = text.find('{"', pos + 1)
    return None


def parse_records(chunk: bytes) -> tuple[list[dict[str, Any]], int]:
    """(records, malformed lines) of whole JSONL lines: the one line parser of every run-dir
    reader (the run view, `arcctl ls` progress, tail), so they agree on which rows exist. A line
    that does not parse whole (a torn line with the next record glued on, a BOM or NUL bytes
    before a record) counts as malformed and gives the complete record at its end, if any."""
    out: list[dict[str, Any]] = []
    bad = 0
    for line in chunk.splitlines():
        if not line.strip():
            continue
        try:
            obj = loads(line)
        except ValueError:
            bad += 1
            obj = _glued_record(line)
            if obj is None:
                continue
        if isinstance(obj, dict):
            out.append(obj)
        else:
            bad += 1
    return out, bad


class JsonlWriter:
    """Appends one JSON object per line, flushed so readers see whole lines promptly."""

    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._f = open(path, "a", encoding="utf-8")
        # A writer that died mid-line left a torn last line: start on a fresh one, or the first
        # record would be glued to it and lost to every reader.
        if self._f.tell() > 0:
            with open(path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    self._f.write("\n")
                    self._f.flush()

    def write(self, obj: dict[str, Any]) -> None:
        self.write_line(json.dumps(obj, separators=(",", ":"), default=_json_default))

    def write_line(self, line: str) -> None:
        """One record already turned into its JSON line (no newline in it)."""
        self._f.write(line + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


class LineReader:
    """The complete lines appended to a file since the last call, by byte offset: the one reader
    behind JSONL tails, the completions index and log tails. A torn last line stays unread until
    its newline arrives; a file that shrank (replaced, truncated) is read again from the start,
    and `restarted` says so. So is one replaced and grown past the offset between two reads (a
    resume rewrote it, then the trainer appended): the bytes just before the offset are read again
    with the new ones, and compared with what they were."""

    MARK = 32  # bytes before the offset kept to recognise the same file

    def __init__(self, path: str, fs: RunFS | None = None, offset: int = 0) -> None:
        self.path, self.fs, self.offset = path, fs or LocalFS(), offset
        self.restarted = False
        self._mark: tuple[int, bytes] | None = None  # (offset, the bytes that ended there)
        # a line past MAX_LINE_BYTES at the offset: (offset, scanned up to, its first bytes)
        self._long: tuple[int, int, bytes] | None = None

    def size(self) -> int:
        try:
            return self.fs.size(self.path)
        except OSError:
            return 0

    def start_near_end(self, nbytes: int) -> int:
        """Move the offset to the first line start in the last NBYTES of the file (the start when
        the file is shorter), so the next read gets only the newest lines; returns the offset."""
        size = self.size()
        pos = size - nbytes
        if pos <= 0:
            self.offset = 0
            return 0
        try:
            with self.fs.open_binary(self.path) as f:
                f.seek(pos - 1)  # from the byte before: a line may start exactly at pos
                while True:
                    piece = f.read(4096)
                    cut = piece.find(b"\n")
                    if cut >= 0:
                        self.offset = pos + cut
                        return self.offset
                    if not piece:  # one line longer than the rest of the file: all of it is "before"
                        self.offset = size
                        return size
                    pos += len(piece)
        except IsADirectoryError:
            self.offset = 0
            return 0

    def read(self, max_bytes: int | None = None) -> bytes:
        """Up to max_bytes (None: all) of new complete lines; more when one line is longer. A line
        longer than MAX_LINE_BYTES is never held whole: it comes back cut to its first
        LONG_LINE_HEAD bytes and a note (a JSONL reader counts it as a bad line), and one with no
        newline yet is scanned only once, not read again at every call."""
        return b"".join(data for _start, _end, data in self.read_pieces(max_bytes))

    def read_pieces(self, max_bytes: int | None = None) -> list[tuple[int, int, bytes]]:
        """What read() returns, as (start, end, data) pieces in file order: DATA is the file's
        bytes START..END, except for a line past MAX_LINE_BYTES, a piece of its own whose DATA is
        the cut line (an index of byte offsets needs the line's true END)."""
        self.restarted = False
        size = self.size()
        if size < self.offset:
            self.offset, self.restarted, self._long = 0, True, None
        out: list[tuple[int, int, bytes]] = []
        piece = max_bytes or READ_PIECE
        while size > self.offset:
            if self._long is not None and self._long[0] == self.offset:
                start = self.offset
                cut = self._finish_long(size)
                if cut is None:  # its newline has not come yet
                    break
                out.append((start, self.offset, cut))
                continue
            self._long = None
            want = min(piece, size - self.offset)
            back = self._mark[1] if self._mark and self._mark[0] == self.offset else b""
            try:
                with self.fs.open_binary(self.path) as f:
                    f.seek(self.offset - len(back))
                    chunk = f.read(want + len(back))
            except IsADirectoryError:  # a folder has a size but no lines: nothing to read, never fatal
                return b""
            if not chunk.startswith(back):  # another file now: read it from its start
                self.offset, self.restarted, self._mark, out = 0, True, None, []
                continue
            chunk = chunk[len(back) :]
            end = chunk.rfind(b"\n")
            if end >= 0:
                out.append((self.offset, self.offset + end + 1, chunk[: end + 1]))
                self.offset += end + 1
                self._mark = (self.offset, (back + chunk[: end + 1])[-self.MARK :])
                if max_bytes is not None:
                    break
                piece = max_bytes or READ_PIECE
                continue
            if len(chunk) >= MAX_LINE_BYTES:  # a line past the limit: scan on for its end
                self._long = (self.offset, self.offset + len(chunk), chunk[:LONG_LINE_HEAD])
                continue
            if want >= size - self.offset:  # only a torn line so far
                break
            piece = min(piece * 4, MAX_LINE_BYTES)  # one line longer than the chunk: read on
        return out

    def _finish_long(self, size: int) -> bytes | None:
        """The line at the offset, known to be longer than MAX_LINE_BYTES and scanned up to
        self._long[1]: find its newline in blocks (keeping nothing), return it cut and move past it;
        None while it has no newline (the scan goes on from there next time)."""
        start, pos, head = self._long  # type: ignore[misc]
        try:
            with self.fs.open_binary(self.path) as f:
                f.seek(pos)
                while pos < size:
                    block = f.read(min(1 << 20, size - pos))
                    if not block:
                        break
                    nl = block.find(b"\n")
                    if nl >= 0:
                        end = pos + nl
                        self.offset, self._mark, self._long = end + 1, None, None
                        return head + f" … [{end - start - len(head)} more bytes]\n".encode()
                    pos += len(block)
        except IsADirectoryError:
            pass
        self._long = (start, pos, head)
        return None


@dataclass
class JsonlTail:
    """Incremental reader of one JSONL file: `read_new()` returns only records appended since the
    last call. A torn last line is left for the next call; a malformed complete line is skipped
    and counted (never raises)."""

    path: str
    fs: RunFS = field(default_factory=LocalFS)
    offset: int = 0
    bad_lines: int = 0
    resets: int = 0  # times the file was found shorter than the offset (replaced): read again from 0

    def __post_init__(self) -> None:
        self._lines = LineReader(self.path, self.fs, self.offset)

    def start_near_end(self, nbytes: int) -> int:
        """Skip to the lines in the last NBYTES (LineReader.start_near_end); returns the offset."""
        self._lines.offset = self.offset
        self.offset = self._lines.start_near_end(nbytes)
        return self.offset

    def read_new(self, max_bytes: int | None = None) -> list[dict[str, Any]]:
        self._lines.offset = self.offset
        chunk = self._lines.read(max_bytes)
        self.offset = self._lines.offset
        self.resets += self._lines.restarted
        out, bad = parse_records(chunk)
        self.bad_lines += bad
        return out

    def follow(self, poll_s: float = 0.25, stop: Any = None) -> Iterator[dict[str, Any]]:
        while stop is None or not stop():
            new = self.read_new()
            yield from new
            if not new:
                time.sleep(poll_s)


class TextTail:
    """The last lines of a growing text file (stdout/stderr), read by byte offset."""

    def __init__(self, fs: RunFS, path: str, keep: int = 500, first_read: int = 256 * 1024) -> None:
        self.fs, self.path, self.keep, self.first_read = fs, path, keep, first_read
        self.lines: list[str] = []
        self.total = 0  # lines ever read, so a viewer can tell which of `lines` it has not shown
        self._reader: LineReader | None = None

    def update(self) -> list[str]:
        if self._reader is None:  # start near the end: a long log shows its last lines at once
            self._reader = LineReader(self.path, self.fs)
            self._reader.offset = max(0, self._reader.size() - self.first_read)
        data = self._reader.read()
        if self._reader.restarted:
            self.lines = []
        if not data:
            return []
        # A progress bar rewrites its line with \r: keep what the terminal would show last.
        new = [_last_segment(p.decode("utf-8", "replace")) for p in data.split(b"\n")[:-1]]
        self.lines.extend(new)
        self.total += len(new)
        del self.lines[: -self.keep]
        return new


def _last_segment(line: str) -> str:
    if "\r" not in line:
        return line
    segs = [x for x in line.split("\r") if x.strip()]
    return segs[-1] if segs else ""


def read_jsonl(path: str | Path, fs: RunFS | None = None) -> list[dict[str, Any]]:
    return JsonlTail(str(path), fs or LocalFS()).read_new()


@dataclass
class Checkpoint:
    name: str
    step: int
    path: str
    valid: bool
    problem: str | None = None


REQUIRED_CHECKPOINT_FILES = ("trainer_state.json",)
ADAPTER_OR_MODEL = (
    "adapter_model.safetensors",
    "model.safetensors",
    "adapter_model.bin",
    "pytorch_model.bin",
    "model.safetensors.index.json",
)


def checkpoint_step(path: str | Path | None) -> int | None:
    """The step N of a `checkpoint-N` directory (a name or a path), None for anything else. Only
    the name the trainer writes counts: N in ASCII digits without leading zeros (`checkpoint-0001`
    beside `checkpoint-1` would be two checkpoints of one step) and at most MAX_STEP."""
    if not path:
        return None
    name = Path(str(path).rstrip("/")).name
    tail = name[len(CHECKPOINT_PREFIX) :] if name.startswith(CHECKPOINT_PREFIX) else ""
    step = decimal_int(tail)
    if step is None or (tail[0] == "0" and tail != "0"):
        return None
    return step


def list_checkpoints(run_dir: str, fs: RunFS | None = None) -> list[Checkpoint]:
    """Every `checkpoint-N` of a run, oldest first, each checked for the files a resume needs."""
    fs = fs or LocalFS()
    try:
        names = fs.listdir(run_dir)
    except (FileNotFoundError, OSError):
        return []
    out = []
    for name in names:
        step = checkpoint_step(name)
        if step is None:
            continue
        path = f"{run_dir.rstrip('/')}/{name}"
        out.append(_check(name, step, path, fs))
    return sorted(out, key=lambda c: c.step)


def _check(name: str, step: int, path: str, fs: RunFS) -> Checkpoint:
    try:
        files = set(fs.listdir(path))
    except OSError as e:
        return Checkpoint(name, step, path, False, f"unreadable: {e}")
    for req in REQUIRED_CHECKPOINT_FILES:
        if req not in files:
            return Checkpoint(name, step, path, False, f"missing {req}")
    if not files.intersection(ADAPTER_OR_MODEL):
        return Checkpoint(name, step, path, False, "missing model/adapter weights")
    try:
        state = loads(fs.read_text(f"{path}/trainer_state.json"))
        global_step = int(state.get("global_step", step))  # a mismatch is the resume's to name
    except (ValueError, OSError, TypeError, AttributeError, OverflowError) as e:
        return Checkpoint(name, step, path, False, f"unreadable trainer_state.json: {e}")
    if global_step > MAX_STEP:
        shown = invalid_value(global_step)
        return Checkpoint(name, step, path, False, f"trainer_state.json: global_step {shown} is past 2**63-1")
    return Checkpoint(name, step, path, True)


def newest_valid_checkpoint(run_dir: str, fs: RunFS | None = None) -> Checkpoint | None:
    return pick_checkpoint(run_dir, None, fs, required=False)


def pick_checkpoint(
    run_dir: str, which: str | None = None, fs: RunFS | None = None, required: bool = True
) -> Checkpoint | None:
    """The checkpoint a user named (`checkpoint-N` or `N`), or for None the newest valid one. A
    named checkpoint must exist and be valid; with `required`, so must the newest. Errors are
    jobs.errors.SpecError naming the run dir and the checkpoints it has."""
    from jobs.errors import SpecError

    cks = list_checkpoints(run_dir, fs)
    if which is None:
        valid = [c for c in cks if c.valid]
        if valid:
            return valid[-1]
        if required:
            bad = "; ".join(f"{c.name}: {c.problem}" for c in cks) or "none saved yet"
            raise SpecError(f"{run_dir}: no valid checkpoint ({bad})")
        return None
    name = which if which.startswith(CHECKPOINT_PREFIX) else f"{CHECKPOINT_PREFIX}{which}"
    for c in cks:
        if c.name == name:
            if not c.valid:
                raise SpecError(f"{c.path}: not a usable checkpoint ({c.problem})")
            return c
    raise SpecError(f"{run_dir}: no {name} (checkpoints: {', '.join(c.name for c in cks) or 'none'})")
