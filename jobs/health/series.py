"""Rolling summaries with O(1)-ish updates: a metric's rolling mean and early baseline, a lagged
running median for spikes, and a window over recent completions with running sums."""

from __future__ import annotations

import bisect
import math
from collections import deque
from typing import Any

from jobs.health.textcheck import CompletionStats
from jobs.health.thresholds import Thresholds


def number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


class Series:
    """One metric: last value, rolling mean over `window` rows, baseline = median of the rows after
    `baseline_skip` warm-up rows, and a lagged reference median for spike detection."""

    def __init__(self, th: Thresholds):
        self.th = th
        self.n = 0
        self.last: float | None = None
        self.last_step: int | None = None
        self._win: deque[float] = deque()
        self._sum = 0.0
        self._base: list[float] = []
        self.baseline: float | None = None
        self.baseline_se = 0.0  # standard error of the rolling mean, from the baseline rows' spread
        # spikes: the newest `spike_recent_rows` values, and a sorted reference of older ones
        self.recent: deque[float] = deque()
        self._ref_fifo: deque[float] = deque()
        self._ref_sorted: list[float] = []

    def push(self, value: float, step: int) -> None:
        self.n += 1
        self.last, self.last_step = value, step
        self._win.append(value)
        self._sum += value
        if len(self._win) > self.th.window:
            self._sum -= self._win.popleft()
        if self.baseline is None and self.n > self.th.baseline_skip:
            self._base.append(value)
            if len(self._base) >= self.th.baseline_rows:
                # the mean, not the median: per-step metrics of small runs are often discrete
                # (frac_reward_zero_std of one group is 0 or 1) and a median of those is 0 or 1
                n = len(self._base)
                self.baseline = sum(self._base) / n
                var = sum((x - self.baseline) ** 2 for x in self._base) / max(1, n - 1)
                self.baseline_se = math.sqrt(var / min(self.th.window, n))
                self._base = []
        self.recent.append(value)
        if len(self.recent) > self.th.spike_recent_rows:
            old = self.recent.popleft()
            if old == 0.0:
                # GRPO logs exactly 0 for grad norm / KL on steps where every group had the same
                # reward (no advantage, no gradient): "no signal", not a low reference level
                return
            self._ref_fifo.append(old)
            bisect.insort(self._ref_sorted, old)
            if len(self._ref_fifo) > self.th.spike_median_rows:
                gone = self._ref_fifo.popleft()
                del self._ref_sorted[bisect.bisect_left(self._ref_sorted, gone)]

    @property
    def mean(self) -> float | None:
        return self._sum / len(self._win) if self._win else None

    def significant(self, diff: float) -> bool:
        """Is a drift of `diff` (rolling mean minus baseline) beyond the run's own noise?"""
        return abs(diff) >= self.th.noise_k * self.baseline_se

    @property
    def smoothed_ready(self) -> bool:
        return len(self._win) >= min(self.th.window, 5)

    @property
    def reference_median(self) -> float | None:
        if len(self._ref_sorted) < min(10, self.th.spike_median_rows):
            return None
        s, n = self._ref_sorted, len(self._ref_sorted)
        return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


# completion fields averaged over the window (bools count as 0/1)
COMPLETION_FIELDS = ("truncated", "parse_error", "degenerate", "pytoken_share", "unique_token_ratio", "digit_run_share")


class CompletionWindow:
    """The most recent completions (count- and step-bounded) with running sums, plus the mean of the
    first `baseline_completions` completions as the run's baseline. A field may be None for some
    completions (python tokens are checked on a sample); means count only those that have it."""

    def __init__(self, th: Thresholds):
        self.th = th
        self.items: deque[tuple[CompletionStats, dict[str, float | None]]] = deque()
        self.sums = dict.fromkeys(COMPLETION_FIELDS, 0.0)
        self.counts = dict.fromkeys(COMPLETION_FIELDS, 0)
        self.total = 0
        self._base_sums = dict.fromkeys(COMPLETION_FIELDS, 0.0)
        self._base_counts = dict.fromkeys(COMPLETION_FIELDS, 0)
        self._base_n = 0
        self.baseline: dict[str, float] | None = None

    def values_of(self, c: CompletionStats) -> dict[str, float | None]:
        degenerate = (
            c.n_words >= self.th.degenerate_min_words and c.ngram4_unique_ratio < self.th.degenerate_ngram4_unique
        )
        return {
            "truncated": float(c.truncated),
            "parse_error": float(c.parse_error and not c.truncated),
            "degenerate": float(degenerate),
            "pytoken_share": c.pytoken_share,
            "unique_token_ratio": c.unique_token_ratio,
            "digit_run_share": c.digit_run_share,
        }

    def add(self, c: CompletionStats) -> None:
        vals = self.values_of(c)
        self.total += 1
        self.items.append((c, vals))
        for k, v in vals.items():
            if v is not None:
                self.sums[k] += v
                self.counts[k] += 1
        if self.baseline is None:
            for k, v in vals.items():
                if v is not None:
                    self._base_sums[k] += v
                    self._base_counts[k] += 1
            self._base_n += 1
            if self._base_n >= self.th.baseline_completions:
                self.baseline = {
                    k: (s / self._base_counts[k] if self._base_counts[k] else 0.0) for k, s in self._base_sums.items()
                }
        oldest_step = c.step - self.th.completion_window_steps
        while self.items and (len(self.items) > self.th.completion_window or self.items[0][0].step < oldest_step):
            _, gone = self.items.popleft()
            for k, v in gone.items():
                if v is not None:
                    self.sums[k] -= v
                    self.counts[k] -= 1

    def mean(self, key: str) -> float | None:
        return self.sums[key] / self.counts[key] if self.counts[key] else None
