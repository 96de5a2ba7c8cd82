"""Pull the program out of a model completion: the first ```python block.

With the default prompt the assistant turn is pre-filled with ASSISTANT_PREFIX, which already
opened the block, so the completion starts in the middle of the code: the program is the code part
of the prefix plus the completion up to the first closing fence. A completion with no closing
fence (the model stopped at EOS, or was truncated) keeps all of its text; whether that parses is
the sandbox's call.
"""

from __future__ import annotations

import re

from trainer.prompts import ASSISTANT_PREFIX

# Possessive blanks (`*+`): with `[ \t]*(python3?|py)?[ \t]*` the two runs could share the blanks
# after a fence in every split, so "```" followed by 16k spaces and no newline took 7 s to refuse
# and a degenerate completion of a megabyte of them hours (quadratic backtracking).
_OPEN = re.compile(r"```[ \t]*+(?:(python3?|py)[ \t]*+)?\r?\n", re.IGNORECASE)
_FENCE = "```"
# Longest program sent to the sandbox. Real programs are a few KB; past about a megabyte the
# sandbox's frames overflow and one program held a whole reward batch for minutes.
MAX_PROGRAM_CHARS = 200_000


def open_block_code(prefix: str | None) -> str | None:
    """The code a prefix leaves open (text after its last, unclosed ```python line), else None."""
    if not prefix or prefix.count(_FENCE) % 2 == 0:
        return None
    m = None
    for m in _OPEN.finditer(prefix):
        pass
    if m is None or prefix.find(_FENCE, m.end()) != -1:
        return None
    return prefix[m.end() :]


def _first_block(text: str) -> str | None:
    tagged = [m for m in _OPEN.finditer(text) if m.group(1)]
    m = tagged[0] if tagged else _OPEN.search(text)
    if m is None:
        return None
    end = text.find(_FENCE, m.end())
    return text[m.end() :] if end < 0 else text[m.end() : end]


def extract_program(completion_text: str | None, prefix: str | None = ASSISTANT_PREFIX) -> str | None:
    """The program text, or None when the completion contains no code at all."""
    if not completion_text or not isinstance(completion_text, str):  # bytes from a server: no code
        return None
    text = completion_text
    if prefix and text.startswith(prefix):  # a full transcript rather than only the continuation
        text = text[len(prefix) :]
    head = open_block_code(prefix)
    if head is not None and not text.lstrip().startswith(_FENCE):
        end = text.find(_FENCE)
        code = head + (text if end < 0 else text[:end])
    else:
        code = _first_block(text)
    if code is None or not code.strip():
        return None
    return code.rstrip() + "\n"


def too_long(program: str | None) -> str:
    """Why `program` is not sent to the sandbox ("" when it may be)."""
    if program is not None and len(program) > MAX_PROGRAM_CHARS:
        return f"program of {len(program)} characters, longer than {MAX_PROGRAM_CHARS}"
    return ""
