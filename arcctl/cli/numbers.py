"""Float options read by one parser: click's FloatRange lets `nan` through its own checks into a
usage box ("less than or equal to 3600" for `--poll nan`) and takes `inf` where only a minimum is
set (`--max-seconds inf`); a bad number of seconds is one line naming the option, as other bad
values are."""

from __future__ import annotations

import math
from typing import Any, Callable

from arcctl.cli.errors import fail

# `--max-seconds` of a follow: a year is past any run; a larger value overflowed time arithmetic.
MAX_FOLLOW_S = 366 * 86400.0


def _span(s: float) -> str:
    return f"{s / 86400:g} days" if s >= 86400 and s % 86400 == 0 else f"{s:g} s"


def finite(flag: str, lo: float, hi: float) -> Callable[[Any], float]:
    """A typer `parser` for FLAG: a finite float from LO to HI, else one error line (exit 2)."""

    def parse(value: Any) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError, OverflowError):
            raise fail(f"{flag} {str(value)!r}: not a number") from None
        if not math.isfinite(v):
            raise fail(f"{flag} {str(value)!r}: not a finite number (nan and inf are refused)")
        if not lo <= v <= hi:
            raise fail(f"{flag} {str(value)!r}: must be from {_span(lo)} to {_span(hi)}")
        return v

    return parse


def seconds_option(default: float | None, flag: str, lo: float, hi: float, help: str) -> Any:
    """typer.Option for a number of seconds, checked by finite() (its range in the help)."""
    import typer

    return typer.Option(
        default, flag, parser=finite(flag, lo, hi), metavar="SECONDS", help=f"{help} ({_span(lo)} to {_span(hi)})"
    )
