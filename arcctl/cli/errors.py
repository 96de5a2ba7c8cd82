"""One clear message and a non-zero exit for errors a user can cause: never a traceback."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import typer

from arcctl.cli.terminal_text import one_line


class UserError(Exception):
    """Raised anywhere in arcctl/jobs for bad input; the message names the file, field or host."""


def fail(message: str, code: int = 2) -> "typer.Exit":
    typer.echo(f"error: {one_line(message)}", err=True)
    return typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the user-caused exceptions of `jobs` into one line on stderr and exit code 2."""
    from jobs.errors import JobsError

    try:
        yield
    except (UserError, JobsError) as e:
        raise fail(str(e))
