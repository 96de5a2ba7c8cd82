"""Text that others wrote (a model's completions, a program's output, a job's log, names and
messages read from a run dir) as the dashboard shows it: always a rich Text, never parsed as
markup (`[@click=app.quit]` would be a live action link, a stray `[/]` an error), with control
characters written out (`\\x1b`) so no escape sequence reaches the terminal (window title,
clipboard, cursor moves)."""

from __future__ import annotations

from rich.text import Text

from arcctl.cli.terminal_text import clip, log_line, one_line

# A one-line label longer than any terminal is wide: a run-dir value of megabytes (a task id, an
# error, a hold reason) is cut before it is escaped and laid out, not carried through every redraw.
LABEL_LIMIT = 2000


def plain(value: object, style: str = "") -> Text:
    """VALUE on one line, shown literally, cut at LABEL_LIMIT characters."""
    return Text(one_line(clip(str(value), LABEL_LIMIT)), style=style)


def lines(text: str) -> str:
    """Several lines shown literally: newlines kept (a `\\r` before one dropped), tabs expanded,
    every other control character written out."""
    return "\n".join(one_line(line.removesuffix("\r").expandtabs(4)) for line in text.split("\n"))


def log_text(line: str) -> Text:
    """A line of a job's log: its colours (SGR) shown, every other escape sequence dropped and
    other control characters written out."""
    return Text.from_ansi(log_line(line).expandtabs(4), no_wrap=True)
