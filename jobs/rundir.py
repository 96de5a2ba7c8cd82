"""The run directory: the one contract between trainer and console (see DESIGN.md).

Writers append whole JSON lines and flush; readers keep a byte offset and only read what is new,
tolerating a torn last line (it is re-read once it is complete). The one exception: a resume from
an earlier checkpoint-N rewrites metrics.jsonl and completions.jsonl with their rows up to step N
(the later ones move to branches/<time>-from-checkpoint-N/); a file found shorter than a reader's
offset was replaced that way and is read again from its start.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator, Protocol

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
EV_RESUMED = "resumed"  # a resume in place from checkpoint-N; names the branch moved aside


class RunFS(Protocol):
    """What a run-dir reader needs from a file system; local and SFTP implement it alike."""

    def open_binary(self, path: str) -> IO[bytes]: ...
    def size(self, path: str) -> int: ...
    def exists(self, path: str) -> bool: ...
    def listdir(self, path: str) -> list[str]: ...
    def read_text(self, path: str) -> str: ...


class LocalFS:
    def open_binary(self, path: str) -> IO[bytes]:
        return open(path, "rb")

    def size(self, path: str) -> int:
        return os.stat(path).st_size

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)

    def read_text(self, path: str) -> str:
        with open(path, encoding="utf-8") as f:
            return f.read()


_GLUE_TRIES = 64


def _int_or_inf(digits: str) -> int | float:
    # An integer past float range (1e400 written out) would raise OverflowError wherever a reader
    # turns it into a float: read it as inf, the value 1e400 gets, which readers already handle.
    return int(digits) if len(digits) < 309 else float(digits)


_DECODER = json.JSONDecoder(parse_int=_int_or_inf)


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
        self._f.write(json.dumps(obj, separators=(",", ":"), default=_json_default) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


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

    def read_new(self, max_bytes: int | None = None) -> list[dict[str, Any]]:
        try:
            size = self.fs.size(self.path)
        except (FileNotFoundError, OSError):
            return []
        if size < self.offset:  # truncated or replaced: start again
            self.offset = 0
            self.resets += 1
        if size == self.offset:
            return []
        want = size - self.offset if max_bytes is None else min(max_bytes, size - self.offset)
        with self.fs.open_binary(self.path) as f:
            f.seek(self.offset)
            chunk = f.read(want)
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        chunk = chunk[: end + 1]
        self.offset += len(chunk)
        out = []
        for line in chunk.splitlines():
            if not line.strip():
                continue
            try:
                obj = loads(line)
            except ValueError:
                self.bad_lines += 1
                obj = _glued_record(line)
                if obj is None:
                    continue
            if isinstance(obj, dict):
                out.append(obj)
            else:
                self.bad_lines += 1
        return out

    def follow(self, poll_s: float = 0.25, stop: Any = None) -> Iterator[dict[str, Any]]:
        while stop is None or not stop():
            new = self.read_new()
            yield from new
            if not new:
                time.sleep(poll_s)


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
ADAPTER_OR_MODEL = ("adapter_model.safetensors", "model.safetensors", "adapter_model.bin", "pytorch_model.bin", "model.safetensors.index.json")


def list_checkpoints(run_dir: str, fs: RunFS | None = None) -> list[Checkpoint]:
    """Every `checkpoint-N` of a run, oldest first, each checked for the files a resume needs."""
    fs = fs or LocalFS()
    try:
        names = fs.listdir(run_dir)
    except (FileNotFoundError, OSError):
        return []
    out = []
    for name in names:
        if not name.startswith(CHECKPOINT_PREFIX):
            continue
        try:
            step = int(name[len(CHECKPOINT_PREFIX):])
        except ValueError:
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
        int(state.get("global_step", step))
    except (ValueError, OSError, TypeError, AttributeError, OverflowError) as e:
        return Checkpoint(name, step, path, False, f"unreadable trainer_state.json: {e}")
    return Checkpoint(name, step, path, True)


def newest_valid_checkpoint(run_dir: str, fs: RunFS | None = None) -> Checkpoint | None:
    valid = [c for c in list_checkpoints(run_dir, fs) if c.valid]
    return valid[-1] if valid else None
