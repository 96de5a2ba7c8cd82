"""Gaps in a metric chart at steps whose every completion was truncated and masked out of the loss
(jobs.masked_steps). The history holds no value there for the metrics TRL could not measure; the
chart breaks its line at those steps instead of drawing through them, dots the gap along the
bottom and labels the widest one "all masked"."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from jobs.masked_steps import LABEL

GAP_COLOR = "gray"


def mark_gaps(
    plt: Any, spans: Sequence[tuple[float, float]], x_range: tuple[float, float], y: float, width: int
) -> None:
    """Dot each masked span along the height `y` (one dot per chart column it covers) and label the
    widest one."""
    if not spans:
        return
    per_col = max((x_range[1] - x_range[0]) / max(1, width - 10), 1e-9)
    gx: list[float] = []
    for a, b in spans:
        gx.extend(np.linspace(a, b, max(1, int((b - a) / per_col) + 1)).tolist())
    plt.scatter(gx, [y] * len(gx), marker="·", color=GAP_COLOR)
    a, b = max(spans, key=lambda s: s[1] - s[0])
    plt.text(LABEL, x=(a + b) / 2, y=y, color=GAP_COLOR, alignment="center")


def gap_note(masked_steps: int) -> str:
    """Title suffix: how many steps the gaps hide."""
    return f"  {masked_steps} step{'s' if masked_steps != 1 else ''} {LABEL}" if masked_steps else ""
