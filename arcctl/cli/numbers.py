"""Number options (floats: seconds; integers: counts) read by one parser each: click's FloatRange
lets `nan` through its own checks into a usage box ("less than or equal to 3600" for `--poll nan`)
and takes `inf` where only a minimum is set (`--max-seconds inf`), and IntRange draws a usage box
too; a bad number is one line naming the option and its range, as other bad values are."""

from __future__ import annotations

import math
import os
import re
from typing import Any, Callable

from arcctl.cli.errors import fail

# `--max-seconds` of a follow: a year is past any run; a larger value overflowed time arithmetic.
MAX_FOLLOW_S = 366 * 86400.0


def _refuse(message: str) -> Exception:
    """fail(MESSAGE), except while the shell's TAB completion parses what is typed so far: click
    drops the error there, so the line would only litter the command line being completed."""
    if os.environ.get("_ARCCTL_COMPLETE"):
        import typer

        return typer.Exit(2)
    return fail(message)


def _span(s: float) -> str:
    return f"{s / 86400:g} days" if s >= 86400 and s % 86400 == 0 else f"{s:g} s"


def finite(flag: str, lo: float, hi: float) -> Callable[[Any], float]:
    """A typer `parser` for FLAG: a finite float from LO to HI, else one error line (exit 2)."""

    def parse(value: Any) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError, OverflowError):
            raise _refuse(f"{flag} {str(value)!r}: not a number") from None
        if not math.isfinite(v):
            raise _refuse(f"{flag} {str(value)!r}: not a finite number (nan and inf are refused)")
        if not lo <= v <= hi:
            raise _refuse(f"{flag} {str(value)!r}: must be from {_span(lo)} to {_span(hi)}")
        return v

    return parse


def seconds_option(default: float | None, flag: str, lo: float, hi: float, help: str) -> Any:
    """typer.Option for a number of seconds, checked by finite() (its range in the help)."""
    import typer

    return typer.Option(
        default, flag, parser=finite(flag, lo, hi), metavar="SECONDS", help=f"{help} ({_span(lo)} to {_span(hi)})"
    )


# The largest count any int option takes (lines, jobs, steps, points): a larger one is no count a
# person means, and deque(maxlen=10**30) or range() of it overflowed a C size.
MAX_COUNT = 10**9
_INT = re.compile(r"[+-]?[0-9]+")


def whole(flag: str, lo: int, hi: int = MAX_COUNT) -> Callable[[Any], int]:
    """A typer `parser` for FLAG: an integer from LO to HI, else one error line naming FLAG and the
    range (exit 2); click's own check wrote a usage box, and `1e9` or `abc` said nothing of it."""

    def parse(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):  # a default, already a count
            v = value
        elif isinstance(value, str) and _INT.fullmatch(value.strip()):
            # past 30 digits it is out of range anyway (and int() refuses past 4300)
            v = int(value.strip()) if len(value.strip()) <= 30 else hi + 1
        else:
            raise _refuse(f"{flag} {str(value)!r}: not a whole number (from {lo} to {hi})")
        if not lo <= v <= hi:
            raise _refuse(f"{flag} {str(value)!r}: must be a whole number from {lo} to {hi}")
        return v

    return parse


def count_option(default: int | None, *flags: str, lo: int, hi: int = MAX_COUNT, help: str) -> Any:
    """typer.Option for an integer, checked by whole() (named by all its flags; range in the help)."""
    import typer

    flag = "/".join(flags)
    return typer.Option(default, *flags, parser=whole(flag, lo, hi), metavar="N", help=f"{help} ({lo} to {hi})")
