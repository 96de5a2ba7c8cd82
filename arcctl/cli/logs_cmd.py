"""`arcctl logs RUN [-f] [--stderr] [-n N]`: a run's stdout.log / stderr.log, local or over SFTP.

RUN is resolved like every other RUN argument (run dir, `host:/path`, job id / prefix / name). The
last N lines are found by reading backwards from the end in blocks, so a multi-GB log costs a few
reads; following keeps a byte offset (never re-reads the file)."""

from __future__ import annotations

import sys
import time
from typing import Any, Iterator, Optional

import typer

from arcctl.cli.completion import complete_job
from arcctl.cli.errors import UserError, user_errors
from arcctl.cli.numbers import MAX_FOLLOW_S, count_option, seconds_option
from arcctl.cli.regular_file import check_regular
from arcctl.cli.terminal_text import log_line, shown

BLOCK = 64 * 1024


def _target(run: str) -> tuple[str, Any, str]:
    """RUN -> (run_dir, fs, "host:" or ""), through the one resolver (arcctl.cli.resolve)."""
    from arcctl.cli.resolve import resolve_run

    target = resolve_run(run)
    return target.run_dir, target.fs, f"{target.host}:" if target.host else ""


# One log line is shown up to this many bytes (its start; a progress bar's last state when the
# line is one rewritten with \r); a line of hundreds of MB costs these bytes of memory, not its size.
LINE_BYTES = 16 * 1024


def _screen_line(raw: bytes) -> str:
    """What a terminal shows of a line: a progress bar rewrites it with \\r, the last part stays."""
    text = raw.decode("utf-8", "replace")
    if "\r" in text:
        parts = [p for p in text.split("\r") if p.strip()]
        text = parts[-1] if parts else ""
    return log_line(text)


class _Line:
    """One log line read in pieces, keeping its first and last LINE_BYTES only."""

    def __init__(self) -> None:
        self.head, self.tail, self.size = b"", b"", 0

    def add(self, data: bytes) -> None:
        self.size += len(data)
        room = LINE_BYTES - len(self.head)
        if room > 0:
            self.head, data = self.head + data[:room], data[room:]
        if data:
            self.tail = (self.tail + data)[-LINE_BYTES:]

    def text(self) -> str:
        if self.size <= 2 * LINE_BYTES:  # head and tail hold all of it
            return _screen_line(self.head + self.tail)
        if b"\r" in self.tail:  # a progress bar rewritten many times: its last state
            return _screen_line(self.tail)
        return _screen_line(self.head) + f"… [{self.size - LINE_BYTES} more bytes]"


def _lines_between(f: Any, start: int, end: int) -> Iterator[str]:
    """The complete lines of the file between byte offsets START and END (END just past a
    newline), read forward in blocks: memory stays bounded whatever their length."""
    f.seek(start)
    pos, line = start, _Line()
    while pos < end:
        chunk = f.read(min(BLOCK, end - pos))
        if not chunk:
            break
        pos += len(chunk)
        parts = chunk.split(b"\n")
        for p in parts[:-1]:
            line.add(p)
            yield line.text()
            line = _Line()
        line.add(parts[-1])


# The backward scan for the last N newlines stops this far from the end: a sparse 20 GB log with
# no newline (one `truncate`) was read whole, minutes over SFTP. What starts before it is shown cut.
SCAN_BYTES = 64 * 2**20


def _tail_span(f: Any, size: int, n: int) -> tuple[int, int]:
    """(start, end): the byte offsets of the last N complete lines (all when N is 0). END is just
    past the last newline (a last line still being written waits for the follower); the file is
    scanned backwards for newlines only, keeping no text, and no further than SCAN_BYTES: START
    is then that cut point (END too when the span holds no newline)."""
    end, found, pos = None, 0, size
    floor = max(0, size - SCAN_BYTES)
    while pos > floor:
        lo = max(floor, pos - BLOCK)
        f.seek(lo)
        chunk = f.read(pos - lo)
        i = len(chunk)
        while True:
            i = chunk.rfind(b"\n", 0, i)
            if i < 0:
                break
            if end is None:
                end = lo + i + 1
                if n == 0:
                    return 0, end
                continue
            found += 1
            if found == n:
                return lo + i + 1, end
        pos = lo
    return floor, floor if end is None else end


def last_lines(fs: Any, path: str, n: int) -> tuple[list[str], int]:
    """The last `n` complete lines (all when n == 0) and the byte offset just past them; a last
    line still being written (no newline yet) is left for the follower."""
    shown: list[str] = []
    end = _print_last_lines(fs, path, n, shown.append)
    return shown, end


def _print_last_lines(fs: Any, path: str, n: int, emit: Any) -> int:
    size = fs.size(path)
    check_regular(fs, path, size)
    if size == 0:
        return 0
    with fs.open_binary(path) as f:
        start, end = _tail_span(f, size, n)
        if start > 0 and _cut(f, start):
            emit(f"[… cut: the {start} bytes before this line were not read]")
        for text in _lines_between(f, start, end):
            emit(text)
    return end


def _cut(f: Any, start: int) -> bool:
    """Whether START (a scan's cut point) falls inside a line."""
    f.seek(start - 1)
    return f.read(1) != b"\n"


def register(app: typer.Typer) -> None:
    @app.command("logs")
    def logs_cmd(
        run: str = typer.Argument(
            ..., help="job id, prefix, name, run dir or host:/path/to/run", autocompletion=complete_job
        ),
        stderr: bool = typer.Option(False, "--stderr", help="stderr.log instead of stdout.log"),
        follow: bool = typer.Option(False, "-f", "--follow", help="keep printing new lines"),
        lines: int = count_option(50, "-n", "--lines", lo=0, help="the last N lines first (0: all)"),
        poll_s: float = seconds_option(0.5, "--poll", 0.01, 3600, "seconds between reads when following"),
        max_seconds: Optional[float] = seconds_option(
            None, "--max-seconds", 0, MAX_FOLLOW_S, "stop following after this long"
        ),
    ) -> None:
        """Print a run's stdout (or stderr) log, local or over SFTP."""
        with user_errors():
            from jobs.rundir import STDERR, STDOUT
            from jobs.ssh_answers import NotRegularFile

            run_dir, fs, where = _target(run)
            name = STDERR if stderr else STDOUT
            path = f"{run_dir.rstrip('/')}/{name}"
            offset = 0
            try:
                if fs.exists(path):
                    offset = _print_last_lines(fs, path, lines, typer.echo)
                elif not follow:
                    typer.echo(f"(no {name} in {shown(run_dir)} yet)", err=True)
                    return
                if follow:
                    _follow(fs, path, offset, poll_s, max_seconds)
            except NotRegularFile:  # a FIFO, a device: one line, on open or read, here or remote
                raise UserError(f"{where}{path}: not a regular file") from None
            except OSError as e:  # a folder or unreadable file where the log should be, a dropped link
                raise UserError(f"{path}: cannot read ({e.strerror or e})") from None


# What following reads per loop. Each loop asks the size and opens the file: through the system ssh
# two commands, so 64 KB per loop never caught up with a writer past ~2 MB/s. _Line keeps memory
# bounded whatever the lines are; a loop holds this much at most.
FOLLOW_READ = 4 * 2**20


def _follow(fs: Any, path: str, offset: int, poll_s: float, max_seconds: float | None) -> None:
    """Print complete lines as they are appended, reading at most FOLLOW_READ bytes at a time (a
    line of hundreds of MB is shown cut, never held whole); a file that shrank (a new attempt
    truncated it) is read again from its start. A log that appears as a named pipe or a device
    raises NotRegularFile."""
    from jobs.ssh_answers import NotRegularFile

    line = _Line()
    start = time.monotonic()
    checked = offset > 0  # the caller read it: a regular file
    while max_seconds is None or time.monotonic() - start < max_seconds:
        try:
            size = fs.size(path)
            if not checked:
                check_regular(fs, path, size)
                checked = True
        except NotRegularFile:
            raise
        except OSError:
            size = -1  # not there (yet)
        if 0 <= size < offset:
            offset, line, checked = 0, _Line(), False  # maybe replaced: by a named pipe too
        if size > offset:
            with fs.open_binary(path) as f:
                f.seek(offset)
                data = f.read(min(FOLLOW_READ, size - offset))
            offset += len(data)
            for i in range(0, len(data), BLOCK):  # printed a block at a time: few lines held at once
                line = _print_lines(data[i : i + BLOCK], line)
            continue
        time.sleep(poll_s)


def _print_lines(data: bytes, line: _Line) -> _Line:
    """Print the lines DATA completes (LINE holds the start of the first); the unfinished rest."""
    parts = data.split(b"\n")
    done = []
    for p in parts[:-1]:
        line.add(p)
        done.append(line.text())
        line = _Line()
    line.add(parts[-1])
    if done:
        typer.echo("\n".join(done))
        sys.stdout.flush()
    return line
