"""Per-completion signals for the health detectors, from one completions.jsonl row.

Repetition numbers come from jobs.textstats (the trainer writes the same ones under `diag`;
we reuse them when present). Gibberish is measured two ways. Python's own tokenizer: the share of
the text that tokenizes as ordinary ASCII Python tokens; prose comments still count as valid (NAME
tokens); what collapses it is stray symbols, non-ASCII soup and text the tokenizer gives up on. And
the share of the text in runs of 4+ digits: "digit soup" (`puzzle70000000000000romlow30003000300`)
tokenizes as NUMBER and NAME tokens, so the first measure misses it, while programs written for ARC
grids use small numbers (a grid literal separates its cells).
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass
from typing import Any, Mapping

from jobs import textstats
from jobs.rundir import json_bool, json_step

_VALID = {tokenize.NAME, tokenize.NUMBER, tokenize.OP, tokenize.STRING, tokenize.COMMENT}
_MAX_CHARS = 20000  # a collapsed completion can be huge; its head tells the story
_TOKENIZE_CHARS = 6000  # tokenizing costs ~1.2 ms per 1000 chars; 6000 chars is ~1700 tokens of code
_DIGIT_RUN = re.compile(r"\d{4,}", re.ASCII)


@dataclass(frozen=True)
class CompletionStats:
    step: int
    ref: dict[str, Any]  # id / step / task_id / snippet, for alert evidence
    n_words: int
    truncated: bool
    parse_error: bool
    unique_token_ratio: float
    ngram4_unique_ratio: float
    ngram4_repeat_max: int
    pytoken_share: float | None  # None: not measured (per-step sample cap)
    digit_run_share: float = 0.0  # share of non-blank characters in runs of 4+ digits


def python_token_share(text: str) -> float:
    """Share (by characters) of non-blank text made of valid ASCII Python tokens; 1.0 for empty text."""
    text = "\n".join(line for line in text[:_TOKENIZE_CHARS].splitlines() if not line.lstrip().startswith("```"))
    total = _nonblank(text)
    if total == 0:
        return 1.0
    good = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text + "\n").readline):
            if tok.type in _VALID and tok.string.isascii():
                s = tok.string
                good += _nonblank(s) if tok.type in (tokenize.STRING, tokenize.COMMENT) else len(s)
    except (tokenize.TokenError, IndentationError, SyntaxError, SystemError):
        # SystemError: CPython 3.12's C tokenizer raises it on some byte soup (seen on the H200 host).
        # EOF inside a bracket (a truncated program) keeps what was read; a mid-text failure loses
        # the rest, which then counts as invalid.
        pass
    return min(1.0, good / total)


def digit_run_share(text: str) -> float:
    """Share of the non-blank characters (of the head the tokenizer reads) in runs of 4+ digits."""
    text = text[:_TOKENIZE_CHARS]
    total = _nonblank(text)
    return sum(len(m) for m in _DIGIT_RUN.findall(text)) / total if total else 0.0


def _nonblank(s: str) -> int:
    return len("".join(s.split()))


def completion_stats(row: Mapping[str, Any], tokenize_text: bool = True) -> CompletionStats:
    text = row.get("completion") or ""
    if not isinstance(text, str):
        text = str(text)
    diag = row.get("diag") or {}
    if not isinstance(diag, Mapping) or "ngram4_unique_ratio" not in diag:
        diag = textstats.text_diagnostics(text[:_MAX_CHARS])
    n_words = len(text.split())
    ref = {
        "id": row.get("id"),
        "step": row.get("step"),
        "task_id": row.get("task_id"),
        "snippet": _snippet(text),
    }
    return CompletionStats(
        step=json_step(row.get("step")) or 0,  # a step only from an integer (never True, "5" or 5.5)
        ref=ref,
        n_words=n_words,
        truncated=json_bool(row.get("truncated")) is True,  # the string "no" is not true
        parse_error=row.get("error") == "parse",
        unique_token_ratio=float(diag.get("unique_token_ratio", 1.0)),
        ngram4_unique_ratio=float(diag.get("ngram4_unique_ratio", 1.0)),
        ngram4_repeat_max=_int(diag.get("ngram4_repeat_max", 0)),
        pytoken_share=python_token_share(text) if tokenize_text else None,
        digit_run_share=digit_run_share(text),
    )


def _snippet(text: str, head: int = 80, tail: int = 100) -> str:
    """Start and end of a completion: collapse shows at the end (the loop, the cut-off, the soup)."""
    flat = (
        " ".join(text[:_MAX_CHARS].split())
        if len(text) <= _MAX_CHARS
        else " ".join(text[: head * 4].split()) + " " + " ".join(text[-tail * 4 :].split())
    )
    return flat if len(flat) <= head + tail + 3 else flat[:head] + " … " + flat[-tail:]


def _int(v: Any) -> int:
    try:
        return int(v)
    except (TypeError, ValueError, OverflowError):
        return 0
