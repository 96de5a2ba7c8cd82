"""Text from files others wrote (a model's completions, a program's output, a job's log, a run
dir copied from another host) made safe to print on a terminal: escape sequences in it could set
the window title, clear the screen, fake a hyperlink or write the clipboard (OSC 52); bidi
overrides could make a line read other than it is; a multi-megabyte value would flood the screen."""

from __future__ import annotations

import re

# ESC and what follows it: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), DCS/SOS/PM/APC
# strings, or any other single character
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\|$)|[PX^_][^\x1b]*(?:\x1b\\|$)|.?)", re.S)
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")

# At most this many characters of one value read from a run dir are shown (the rest is counted).
FIELD_LIMIT = 1000
# ... and of one line of a report or table built from them.
LINE_LIMIT = 4000


def _escaped(c: str) -> str:
    return repr(c)[1:-1]


def one_line(text: str, keep: str = "") -> str:
    """TEXT with newlines, tabs and every other control character written out (\\n, \\t, \\x1b),
    bidi overrides and other invisible format characters too (\\u202e): a value stays inside its
    one line and nothing in it reaches the terminal as a command. Characters in KEEP stay."""
    if text.isprintable():  # the common case, at C speed: `ls` of 10,000 jobs writes out every name
        return text
    return "".join(c if c.isprintable() or c in keep else _escaped(c) for c in text)


def clip(text: str, limit: int = FIELD_LIMIT) -> str:
    """TEXT cut to LIMIT characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


def clip_middle(text: str, head: int = 1500, tail: int = 500) -> str:
    """TEXT with its middle left out when it is longer than HEAD + TAIL characters: an error
    message that quotes a value of a million characters keeps its start and the end that says
    what is wrong."""
    if len(text) <= head + tail:
        return text
    return f"{text[:head]}… [{len(text) - head - tail} characters left out] …{text[-tail:]}"


def shown(value: object, limit: int = FIELD_LIMIT) -> str:
    """One value from a file others wrote, as a terminal line may hold it: at most LIMIT characters
    of it, control and format characters written out."""
    return one_line(clip(value if isinstance(value, str) else str(value), limit))


def block(text: str, limit: int = LINE_LIMIT, keep: str = "") -> str:
    """Several lines (a report, a table, a prompt) built from what others wrote: the newlines
    between them kept, each line cut to LIMIT characters and written out like one_line
    (characters in KEEP, e.g. a tab, stay)."""
    return "\n".join(one_line(clip(line, limit), keep) for line in text.split("\n"))


def log_line(text: str) -> str:
    """A line of a job's log as a terminal may show it: colours (SGR) and tabs kept, every other
    escape sequence dropped, other control characters written out. Concealed text (SGR 8) is not
    kept, and a line that sets colours ends with a reset: a log's `ESC[30;40m` (black on black)
    would otherwise hide what the terminal shows after it, the shell's prompt included."""
    coloured = False

    def keep(m: re.Match[str]) -> str:
        nonlocal coloured
        if not _COLOUR.fullmatch(m.group(0)):
            return ""
        coloured = True
        return _without_conceal(m.group(0))

    text = _ESCAPE.sub(keep, text)
    text = "".join(c if c.isprintable() or c in "\t\x1b" else _escaped(c) for c in text)
    return text + "\x1b[0m" if coloured else text


def _without_conceal(sgr: str) -> str:
    """An SGR sequence without its conceal parameter (8); the colour indexes of 38/48/58 stay."""
    params, out, i = sgr[2:-1].split(";"), [], 0
    while i < len(params):
        p = params[i]
        n = {"5": 3, "2": 5}.get(params[i + 1] if i + 1 < len(params) else "", 1) if p in ("38", "48", "58") else 1
        if p != "8" or n != 1:
            out += params[i : i + n]
        i += n
    return f"\x1b[{';'.join(out)}m" if out or not sgr[2:-1] else ""
