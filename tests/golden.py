"""The one check for golden files (expected text pinned in the repository).

A missing golden fails; a differing one fails with the first differing line. Only
`ARCCTL_UPDATE_GOLDEN=1` writes them (after an intended change); any other value is refused, so a
stray `ARCCTL_UPDATE_GOLDEN=0` can never turn the check into a rewrite.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ENV = "ARCCTL_UPDATE_GOLDEN"


def updating() -> bool:
    value = os.environ.get(ENV, "")
    if value not in ("", "1"):
        pytest.fail(f"{ENV}={value!r}: set it to 1 to regenerate golden files, or unset it to check them")
    return value == "1"


def check_golden(path: Path, text: str) -> None:
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    if not path.exists():
        pytest.fail(f"missing golden file {path}; create it with {ENV}=1 after checking the output")
    want = path.read_text()
    if text != want:
        got_lines, want_lines = text.splitlines(), want.splitlines()
        n = next(
            (i for i, (a, b) in enumerate(zip(got_lines, want_lines)) if a != b), min(len(got_lines), len(want_lines))
        )
        got_line = got_lines[n] if n < len(got_lines) else "<end of text>"
        want_line = want_lines[n] if n < len(want_lines) else "<end of file>"
        pytest.fail(
            f"{path} differs at line {n + 1}:\n  golden: {want_line}\n  now:    {got_line}\n"
            f"if the change is intended, regenerate with {ENV}=1"
        )
