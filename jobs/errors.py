"""Errors a user can cause. Every message names the file, field, job or host at fault."""

import re


class JobsError(Exception):
    pass


class TemplateError(JobsError):
    pass


class SpecError(JobsError):
    pass


class RegistryError(JobsError):
    pass


class RemoteError(JobsError):
    pass


# A name longer than this (a task id of megabytes in someone's JSON file) is cut inside a message.
NAME_LIMIT = 200
# Names of only these characters read the same bare (`task 00576224`); any other is quoted.
_BARE = re.compile(r"[A-Za-z0-9_.:/@+=-]+")


def quoted(value: object) -> str:
    """A name from a file or from the command line (task id, run name) as a message quotes it:
    bare when it holds only letters, digits and `_.:/@+=-`, else in quotes with newlines, tabs,
    escape sequences and bidi overrides written out by repr (a task id "a\\nb" must not start a
    line of its own in a trainer's log, nor "a, b" read as two ids); cut at NAME_LIMIT characters."""
    text = value if isinstance(value, str) else str(value)
    cut = text[:NAME_LIMIT]
    shown = cut if _BARE.fullmatch(cut) else repr(cut)
    return shown if len(text) <= NAME_LIMIT else f"{shown}… [{len(text)} characters]"


def quoted_list(values: list, at_most: int = 5) -> str:
    """The first AT_MOST names, each quoted, and how many more there are: `a, 'b c' (and 3 more)`."""
    more = f" (and {len(values) - at_most} more)" if len(values) > at_most else ""
    return ", ".join(quoted(v) for v in values[:at_most]) + more
