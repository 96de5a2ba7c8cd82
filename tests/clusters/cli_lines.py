"""The bad-input contract of the cluster commands as the hostile-input tests check it: the real
`arcctl` binary run with a given ssh config, and its answer as one line."""

from __future__ import annotations

import subprocess

EXIT_CODES = (2,)  # a user error; `hosts` says 1 for a host it could not reach


def one_line(res: subprocess.CompletedProcess, *needles: str, codes: tuple[int, ...] = EXIT_CODES) -> str:
    """Assert: exit code in CODES, no traceback, one line of output naming every needle."""
    out = (res.stdout + res.stderr).strip()
    assert res.returncode in codes and "Traceback" not in out, out
    [line] = out.splitlines()
    for n in needles:
        assert n in line, line
    return line
