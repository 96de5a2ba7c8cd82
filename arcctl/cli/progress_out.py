"""Progress of long CLI work: a rich progress bar on stderr when it is a terminal, plain lines
when it is piped or redirected (a log file gets a line every PLAIN_EVERY_S seconds and a last
one, never carriage-return animation)."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from arcctl.cli.terminal_text import one_line

PLAIN_EVERY_S = 5.0


def _human(n: float, unit: str) -> str:
    if unit != "B":
        return f"{n:g} {unit}".rstrip()
    for u in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or u == "GB":
            return f"{n:.0f} {u}" if u == "B" else f"{n:.1f} {u}"
        n /= 1000
    return f"{n:.1f} GB"


@contextmanager
def progress(
    what: str, total: float | None = None, unit: str = "", tty: bool | None = None, every_s: float = PLAIN_EVERY_S
) -> Iterator[Callable[[float], None]]:
    """`with progress("fetch checkpoint-200", unit="B") as advance: advance(nbytes)`."""
    tty = sys.stderr.isatty() if tty is None else tty
    what = one_line(what)  # names a checkpoint of another host
    done = 0.0
    if tty:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        cols = [TextColumn("{task.description}", markup=False), BarColumn(), TaskProgressColumn()]
        cols += [DownloadColumn(), TransferSpeedColumn()] if unit == "B" else [TextColumn("{task.completed:g} " + unit)]
        cols.append(TimeRemainingColumn())
        with Progress(*cols, console=Console(stderr=True), transient=False) as bar:
            task = bar.add_task(what, total=total)

            def advance(n: float) -> None:
                bar.advance(task, n)

            yield advance
        return
    start = last = time.monotonic()

    def line() -> str:
        part = _human(done, unit) + (f" of {_human(total, unit)} ({100 * done / total:.0f}%)" if total else "")
        return f"{what}: {part}, {time.monotonic() - start:.0f} s"

    def advance(n: float) -> None:
        nonlocal done, last
        done += n
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            print(line(), file=sys.stderr, flush=True)

    yield advance
    print(line(), file=sys.stderr, flush=True)
