"""Repetition and diversity statistics of one completion, in pure Python.

Collapse shows up as completions repeating a phrase (`in a pattern in a pattern ...`) or reusing a
handful of tokens. The trainer computes these per completion, the health detector and the dashboard
recompute them from completions.jsonl; all use this module so the numbers agree. Works on token ids
or on whitespace words (when only text is at hand).
"""

from __future__ import annotations

from collections import Counter
from typing import Hashable, Sequence


def words(text: str) -> list[str]:
    return text.split()


def unique_ratio(tokens: Sequence[Hashable]) -> float:
    """Distinct tokens / tokens; 1.0 for an empty sequence (nothing repeated)."""
    if not tokens:
        return 1.0
    return len(set(tokens)) / len(tokens)


def ngram_stats(tokens: Sequence[Hashable], n: int) -> tuple[float, int]:
    """(unique n-gram ratio, count of the most repeated n-gram). Too short: (1.0, 0)."""
    if len(tokens) < n:
        return 1.0, 0
    grams = Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    total = len(tokens) - n + 1
    return len(grams) / total, max(grams.values())


def diagnostics(tokens: Sequence[Hashable]) -> dict[str, float]:
    """The per-completion numbers written to completions.jsonl (`diag`) and aggregated into arc/ metrics."""
    u3, m3 = ngram_stats(tokens, 3)
    u4, m4 = ngram_stats(tokens, 4)
    return {
        "unique_token_ratio": round(unique_ratio(tokens), 4),
        "ngram3_unique_ratio": round(u3, 4),
        "ngram3_repeat_max": m3,
        "ngram4_unique_ratio": round(u4, 4),
        "ngram4_repeat_max": m4,
    }


def text_diagnostics(text: str) -> dict[str, float]:
    return diagnostics(words(text))


def mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None
