"""Text from files others wrote (a model's completions, a program's output, a job's log) made safe
to print on a terminal: escape sequences in it could set the window title, clear the screen,
fake a hyperlink or write the clipboard (OSC 52)."""

from __future__ import annotations

import re

# ESC and what follows it: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), DCS/SOS/PM/APC
# strings, or any other single character
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\|$)|[PX^_][^\x1b]*(?:\x1b\\|$)|.?)", re.S)
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def _escaped(c: str) -> str:
    return repr(c)[1:-1]


def one_line(text: str) -> str:
    """TEXT with newlines, tabs and every other control character written out (\\n, \\t, \\x1b):
    a value stays inside its one line and nothing in it reaches the terminal as a command."""
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


def log_line(text: str) -> str:
    """A line of a job's log as a terminal may show it: colours (SGR) and tabs kept, every other
    escape sequence dropped, other control characters written out."""
    text = _ESCAPE.sub(lambda m: m.group(0) if _COLOUR.fullmatch(m.group(0)) else "", text)
    return "".join(c if c.isprintable() or c in "\t\x1b" else _escaped(c) for c in text)
