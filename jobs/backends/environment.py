"""The environment a job runs in on its host, per profile ([options]), the same for every backend:

    setup  = ["source ~/venvs/arc/bin/activate", "module load cuda"]   # shell lines run first
    python = "/opt/conda/envs/arc/bin/python"                           # the interpreter of `python -m …`

A non-interactive ssh session and a batch job get a minimal environment, so without one of these
the first cluster job dies with "No module named trainer". Setup lines run under `set -e`: a
failing `conda activate` stops the job at that line (its error in stderr.log) instead of letting
the trainer fail later with a confusing import error.
"""

from __future__ import annotations

import shlex
from typing import Any

from jobs.backends.base import BackendError

WRAPPER_NAME = "job.sh"


def setup_lines(options: dict[str, Any], where: str) -> list[str]:
    raw = options.get("setup", [])
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise BackendError(f"{where}: setup must be a shell line or a list of them, not {raw!r}")
    lines = [line for item in raw for line in item.splitlines()]
    for line in lines:
        if "\0" in line:
            raise BackendError(f"{where}: setup line {line!r} contains a NUL byte")
    return [line for line in lines if line.strip()]


def python_option(options: dict[str, Any], where: str) -> str | None:
    """The profile's interpreter: an absolute path, `~/…` (the job's home), or a command name."""
    py = options.get("python")
    if py is None:
        return None
    if not isinstance(py, str) or not py.strip() or any(c in py for c in "\0\n"):
        raise BackendError(f"{where}: python must be a path or command name, not {py!r}")
    if py.startswith("~") and not py.startswith("~/"):
        raise BackendError(f"{where}: python {py!r}: only ~/ (the job user's home) is supported")
    return py


def shell_word(arg: str) -> str:
    """ARG quoted for bash, except that a leading `~/` stays the job user's home."""
    if arg.startswith("~/"):
        return '"$HOME"/' + shlex.quote(arg[2:])
    return shlex.quote(arg)


def setup_block(lines: list[str]) -> list[str]:
    """The setup lines as they appear in a job script."""
    if not lines:
        return []
    return ["# the profile's environment (setup): a failing line stops the job here", "set -e", *lines, "set +e"]


def wrapper_script(lines: list[str]) -> str:
    """A script that runs the setup lines, then replaces itself with its arguments (the job)."""
    return "\n".join(["#!/bin/bash", *setup_block(lines), 'exec "$@"', ""])


def wrap_argv(lines: list[str], argv: list[str]) -> list[str]:
    """ARGV run after the setup lines, in one bash process (local jobs: no file to write)."""
    if not lines:
        return argv
    return ["/bin/bash", "-c", "\n".join([*setup_block(lines), 'exec "$@"']), "arcctl-job", *argv]
