"""`arcctl logs RUN [-f] [--stderr] [-n N]`: a run's stdout.log / stderr.log, local or over SFTP.

RUN is resolved like every other RUN argument (run dir, `host:/path`, job id / prefix / name). The
last N lines are found by reading backwards from the end in blocks, so a multi-GB log costs a few
reads; following keeps a byte offset (never re-reads the file)."""

from __future__ import annotations

import sys
import time
from typing import Any, Optional

import typer

from arcctl.cli.completion import complete_job
from arcctl.cli.errors import UserError, user_errors
from arcctl.cli.terminal_text import log_line

BLOCK = 64 * 1024


def _target(run: str) -> tuple[str, Any]:
    """RUN -> (run_dir, fs), through the one resolver (arcctl.cli.resolve)."""
    from arcctl.cli.resolve import resolve_run

    target = resolve_run(run)
    return target.run_dir, target.fs


def _screen_line(raw: bytes) -> str:
    """What a terminal shows of a line: a progress bar rewrites it with \\r, the last part stays."""
    text = raw.decode("utf-8", "replace")
    if "\r" in text:
        parts = [p for p in text.split("\r") if p.strip()]
        text = parts[-1] if parts else ""
    return log_line(text)


def last_lines(fs: Any, path: str, n: int) -> tuple[list[str], int]:
    """The last `n` complete lines (all when n == 0) and the byte offset just past them; a last
    line still being written (no newline yet) is left for the follower."""
    size = fs.size(path)
    if size == 0:  # empty, or a FIFO someone put there: opening it would block
        return [], 0
    with fs.open_binary(path) as f:
        end = size
        f.seek(0)
        if size:
            f.seek(size - 1)
            if f.read(1) != b"\n":  # the unfinished last line is not shown yet
                pos = size
                while pos > 0:
                    start = max(0, pos - BLOCK)
                    f.seek(start)
                    chunk = f.read(pos - start)
                    cut = chunk.rfind(b"\n")
                    if cut >= 0:
                        end = start + cut + 1
                        break
                    pos = start
                else:
                    end = 0
        data, pos = b"", end
        while pos > 0 and (n == 0 or data.count(b"\n") <= n):
            start = max(0, pos - BLOCK)
            f.seek(start)
            data = f.read(pos - start) + data
            pos = start
    lines = data.split(b"\n")[:-1] if data else []
    if n and len(lines) > n:
        lines = lines[-n:]
    return [_screen_line(x) for x in lines], end


def register(app: typer.Typer) -> None:
    @app.command("logs")
    def logs_cmd(
        run: str = typer.Argument(
            ..., help="job id, prefix, name, run dir or host:/path/to/run", autocompletion=complete_job
        ),
        stderr: bool = typer.Option(False, "--stderr", help="stderr.log instead of stdout.log"),
        follow: bool = typer.Option(False, "-f", "--follow", help="keep printing new lines"),
        lines: int = typer.Option(50, "-n", "--lines", min=0, help="the last N lines first (0: all)"),
        poll_s: float = typer.Option(0.5, "--poll", min=0.01, max=3600, help="seconds between reads when following"),
        max_seconds: Optional[float] = typer.Option(
            None, "--max-seconds", min=0, help="stop following after this long"
        ),
    ) -> None:
        """Print a run's stdout (or stderr) log, local or over SFTP."""
        with user_errors():
            from jobs.rundir import STDERR, STDOUT

            run_dir, fs = _target(run)
            name = STDERR if stderr else STDOUT
            path = f"{run_dir.rstrip('/')}/{name}"
            offset = 0
            try:
                if fs.exists(path):
                    shown, offset = last_lines(fs, path, lines)
                    if shown:
                        typer.echo("\n".join(shown))
                elif not follow:
                    typer.echo(f"(no {name} in {run_dir} yet)", err=True)
                    return
                if follow:
                    _follow(fs, path, offset, poll_s, max_seconds)
            except OSError as e:  # a folder or unreadable file where the log should be, a dropped link
                raise UserError(f"{path}: cannot read ({e.strerror or e})") from None


def _follow(fs: Any, path: str, offset: int, poll_s: float, max_seconds: float | None) -> None:
    """Print complete lines as they are appended; a file that shrank (a new attempt truncated it)
    is read again from its start."""
    partial = b""
    start = time.monotonic()
    while max_seconds is None or time.monotonic() - start < max_seconds:
        try:
            size = fs.size(path)
        except OSError:
            size = -1  # not there (yet)
        if 0 <= size < offset:
            offset, partial = 0, b""
        if size > offset:
            with fs.open_binary(path) as f:
                f.seek(offset)
                data = f.read(size - offset)
            offset += len(data)
            parts = (partial + data).split(b"\n")
            partial = parts.pop()
            if parts:
                typer.echo("\n".join(_screen_line(p) for p in parts))
                sys.stdout.flush()
            continue
        time.sleep(poll_s)
