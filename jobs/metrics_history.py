"""MetricsHistory: metrics.jsonl as columns (one float array per metric, NaN where a row lacks
it), grown incrementally; `series()` smooths (EMA) and downsamples to min/max buckets of chart
width, so a 100k-step history redraws as fast as a 100-step one.

Rows whose every completion was truncated and masked out of the loss (jobs.masked_steps) hold NaN
for the metrics TRL could not measure on them (entropy, kl, loss, grad_norm): charts draw gaps
there (`masked_spans`), not a fake collapse to 0.
"""

from __future__ import annotations

import math
from array import array
from typing import Any, Iterable

import numpy as np

from jobs.her_report import HER_NON_NEGATIVE_METRICS, HER_UNIT_METRICS, checked_metric
from jobs.masked_steps import is_masked_metric
from jobs.rundir import invalid_value, json_step

# Metrics the run screen offers first (TRL names, then ours under arc/).
DEFAULT_CHARTS = [
    "reward",
    "reward_std",
    "frac_reward_zero_std",
    "kl",
    "entropy",
    "completions/mean_length",
    "completions/clipped_ratio",
    "grad_norm",
]


class MetricsHistory:
    """Columnar metrics history, appended incrementally from metrics.jsonl."""

    def __init__(self, mask_truncated: bool | None = None) -> None:
        self.steps = array("d")
        self.columns: dict[str, array] = {}
        self._ema: dict[tuple[str, float], tuple[int, array]] = {}
        # the run's mask_truncated_completions (None: unknown, judged from the row itself)
        self.mask_truncated = mask_truncated
        self.masked = array("b")  # 1 where every completion of the row was truncated and masked
        # metric -> [values that failed its check (jobs.her_report.checked_metric), the first one
        # as JSON]: read as missing (NaN), named once in `invalid_note`
        self.invalid: dict[str, list] = {}

    def __len__(self) -> int:
        return len(self.steps)

    def extend(self, rows: Iterable[dict[str, Any]]) -> int:
        """Append rows column by column (one pass per metric, not per cell: 100k rows in ~0.1 s)."""
        # a step is an integer 0..2**63-1 (docs/run-dir.md): a row at step -3 would stretch the x
        # axis, one at 10**400 overflowed the float conversion below
        rows = [r for r in rows if json_step(r.get("step")) is not None]
        if not rows:
            return 0
        n0, m = len(self.steps), len(rows)
        self.steps.extend(float(r["step"]) for r in rows)
        keys: set[str] = set()
        for r in rows:
            keys.update(r)
        keys -= {"step", "time"}
        for key in keys:
            col = self.columns.get(key)
            if col is None:
                col = array("d", [math.nan]) * n0
            if key.startswith("her/"):
                vals = array("d", (self._checked(key, r.get(key)) for r in rows))
            else:
                vals = array("d", (float(v) if _is_num(v) else math.nan for v in (r.get(key) for r in rows)))
            if all(math.isnan(v) for v in vals) and key not in self.columns:
                continue  # never numeric (a string field): not a metric
            col.extend(vals)
            self.columns[key] = col
        for key, col in self.columns.items():
            if len(col) < n0 + m:
                col.extend(array("d", [math.nan]) * (n0 + m - len(col)))
        self._mask_new_rows(n0, m)
        return m

    def _checked(self, key: str, value: Any) -> float:
        v, ok = checked_metric(key, value)
        if not ok:
            seen = self.invalid.setdefault(key, [0, invalid_value(value)])
            seen[0] += 1
        return math.nan if v is None else float(v)

    def invalid_note(self) -> str:
        """The metrics whose values failed their check, each named once: `her/best_pixel_score: 3
        values not in 0..1 (first 1.7)`; empty when none did."""
        parts = []
        for key, (n, first) in sorted(self.invalid.items()):
            want = "in 0..1" if key in HER_UNIT_METRICS else ">= 0" if key in HER_NON_NEGATIVE_METRICS else "finite"
            parts.append(f"{key}: {n} value{'s' if n != 1 else ''} not a number {want} (first {first})")
        return "; ".join(parts) + " - read as missing" if parts else ""

    def _mask_new_rows(self, n0: int, m: int) -> None:
        """Flag the new rows that are all masked (jobs.masked_steps.all_masked, on the columns at
        once) and blank the metrics TRL could not measure on them."""

        def new(name: str) -> np.ndarray | None:
            col = self.columns.get(name)
            if col is None:
                return None
            v = np.frombuffer(col, dtype=np.float64)[n0 : n0 + m]
            return np.where(np.isfinite(v), v, np.nan)

        flags = masked_flags(new, m, self.mask_truncated)
        self.masked.extend(array("b", flags.astype(np.int8).tobytes()))
        if not flags.any():
            return
        for key, col in self.columns.items():
            if is_masked_metric(key):
                np.frombuffer(col, dtype=np.float64)[n0 : n0 + m][flags] = np.nan

    def masked_count(self) -> int:
        """Rows whose every completion was truncated and masked out of the loss."""
        return sum(self.masked)

    def masked_spans(self, step_range: tuple[float, float] | None = None) -> list[tuple[float, float]]:
        """(first step, last step) of each run of consecutive all-masked rows, oldest first."""
        if not any(self.masked):
            return []
        flags = np.frombuffer(self.masked, dtype=np.int8)
        x = np.frombuffer(self.steps, dtype=np.float64)[: len(flags)]
        edges = np.diff(np.concatenate(([0], flags, [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
        spans = [(float(x[a]), float(x[b])) for a, b in zip(starts, ends)]
        if step_range is not None:
            spans = [s for s in spans if s[1] >= step_range[0] and s[0] <= step_range[1]]
        return spans

    def names(self) -> list[str]:
        known = [m for m in DEFAULT_CHARTS if m in self.columns]
        rest = sorted(m for m in self.columns if m not in known and m not in ("epoch",))
        return known + [m for m in rest if m.startswith("arc/")] + [m for m in rest if not m.startswith("arc/")]

    def last(self, name: str) -> float | None:
        col = self.columns.get(name)
        if not col:
            return None
        for v in reversed(col):
            if not math.isnan(v):
                return v
        return None

    def last_step(self) -> int | None:
        return int(self.steps[-1]) if self.steps else None

    def row_at(self, step: int) -> dict[str, float]:
        """Metrics of the last logged row at or before `step` (what a checkpoint saw)."""
        if not self.steps:
            return {}
        xs = np.frombuffer(self.steps, dtype=np.float64)
        i = int(np.searchsorted(xs, step, side="right")) - 1
        if i < 0:
            return {}
        return {k: c[i] for k, c in self.columns.items() if i < len(c) and not math.isnan(c[i])}

    def _smoothed(self, name: str, alpha: float) -> array:
        """EMA over the full series, cached and extended only by the new rows."""
        col = self.columns[name]
        done, out = self._ema.get((name, alpha), (0, array("d")))
        prev = out[-1] if out else math.nan
        for i in range(done, len(col)):
            v = col[i]
            if math.isfinite(v):
                prev = v if math.isnan(prev) else alpha * v + (1 - alpha) * prev
            out.append(prev)
        self._ema[(name, alpha)] = (len(col), out)
        return out

    def series(
        self, name: str, width: int = 200, smoothing: float = 0.0, step_range: tuple[float, float] | None = None
    ) -> tuple[list[float], list[float]]:
        """(steps, values) ready to plot: EMA-smoothed (smoothing in [0, 1): 0 = raw, 0.9 = heavy),
        non-finite values dropped (an inf would also poison the EMA after it), and at most ~2*width points (min and max of each bucket keep the spikes)."""
        if name not in self.columns or not self.steps:
            return [], []
        col = self._smoothed(name, 1.0 - smoothing) if smoothing > 0 else self.columns[name]
        x = np.frombuffer(self.steps, dtype=np.float64)[: len(col)]
        y = np.frombuffer(col, dtype=np.float64)[: len(x)]
        if smoothing > 0 and is_masked_metric(name) and any(self.masked):
            # the EMA carries its last value over a masked row; the chart shows a gap there
            y = np.where(np.frombuffer(self.masked, dtype=np.int8)[: len(y)] != 0, np.nan, y)
        if step_range is not None:
            lo, hi = np.searchsorted(x, step_range[0]), np.searchsorted(x, step_range[1], side="right")
            x, y = x[lo:hi], y[lo:hi]
        keep = np.isfinite(y)
        x, y = x[keep], y[keep]
        return downsample(x, y, width)


def masked_flags(column, n: int, masking: bool | None) -> np.ndarray:
    """jobs.masked_steps.all_masked for n rows at once: `column(name)` gives that metric's values
    for the rows (NaN where a row lacks it or it is not finite), or None when no row has it."""
    clipped, truncated = column("completions/clipped_ratio"), column("arc/truncated_ratio")
    if masking is False or (clipped is None and truncated is None):
        return np.zeros(n, dtype=bool)
    c = clipped if clipped is not None else np.full(n, np.nan)
    if truncated is not None:
        c = np.where(np.isnan(c), truncated, c)
    full = c >= 1.0
    if masking:
        return full
    entropy, kl = column("entropy"), column("kl")
    probe = entropy if entropy is not None else np.full(n, np.nan)
    if kl is not None:
        probe = np.where(np.isnan(probe), kl, probe)
    return full & (probe == 0.0)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def downsample(x: np.ndarray, y: np.ndarray, width: int) -> tuple[list[float], list[float]]:
    n = len(x)
    width = max(2, width)
    if n <= 2 * width:
        return x.tolist(), y.tolist()
    edges = np.linspace(0, n, width + 1).astype(np.int64)[:-1]
    mins = np.minimum.reduceat(y, edges)
    maxs = np.maximum.reduceat(y, edges)
    ends = np.append(edges[1:], n) - 1
    # Two points per bucket, its min and its max: the line still shows every spike, drawn at
    # roughly the right step.
    xs = np.empty(2 * width)
    ys = np.empty(2 * width)
    xs[0::2], xs[1::2] = x[edges], x[ends]
    rising = y[edges] <= y[ends]  # a falling bucket draws max then min, so the line keeps its shape
    ys[0::2] = np.where(rising, mins, maxs)
    ys[1::2] = np.where(rising, maxs, mins)
    return xs.tolist(), ys.tolist()
