"""One clear message and a non-zero exit for errors a user can cause: never a traceback."""

from __future__ import annotations

import errno
from contextlib import contextmanager
from typing import Iterator

import typer

from arcctl.cli.terminal_text import clip_middle, one_line


class UserError(Exception):
    """Raised anywhere in arcctl/jobs for bad input; the message names the file, field or host."""


def fail(message: str, code: int = 2) -> "typer.Exit":
    # one line of readable length: a message quoting a -p value of a million characters is cut
    typer.echo(f"error: {one_line(clip_middle(message))}", err=True)
    return typer.Exit(code)


def warn(message: object, prefix: str = "warning") -> None:
    """One line on stderr that goes on (a template skipped, a job's state not refreshed): what it
    quotes comes from files and schedulers, so it is written out and cut as fail() writes it."""
    typer.echo(f"{prefix}: {one_line(clip_middle(str(message)))}", err=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the user-caused exceptions of `jobs` into one line on stderr and exit code 2."""
    from jobs.errors import JobsError

    try:
        yield
    except (UserError, JobsError) as e:
        raise fail(str(e))
    except OSError as e:
        # a path the user gave that no file system takes (a name past 255 bytes or PATH_MAX, a
        # folder where a file goes, no permission): one line naming it, not a traceback
        if e.errno not in _PATH_ERRNOS:
            raise
        where = f"{e.filename}: " if e.filename is not None else ""
        raise fail(f"{where}{e.strerror or e}")


_PATH_ERRNOS = {
    errno.ENAMETOOLONG,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EACCES,
    errno.EPERM,
    errno.ELOOP,
    errno.EROFS,
}
