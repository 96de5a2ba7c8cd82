"""Detector thresholds: defaults that suit GRPO on ARC, overridable per template.

A template's `[health]` table lands in `params.health` (a flat dict of numbers); `Thresholds.from_overrides`
applies it and names the offending key when one is unknown or not a number. Windows count metric rows
(one per logging step), so a run that logs every step reacts within `window` steps.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from jobs.errors import JobsError


class HealthConfigError(JobsError):
    pass


@dataclass(frozen=True)
class Thresholds:
    # -- shared windows ------------------------------------------------------------------------
    window: int = 20              # rows in the rolling mean of a drifting metric
    persist: int = 3              # consecutive rows a drift level must hold before it is raised
    baseline_skip: int = 3        # warm-up rows ignored by the baseline
    baseline_rows: int = 20       # rows whose median is the run's own early baseline
    completion_window: int = 256  # most recent completions summarised
    completion_window_steps: int = 200  # ... and none older than this many steps
    noise_k: float = 3.0          # a drift must exceed this many standard errors of the baseline
    tokenize_per_step: int = 32   # completions per step whose Python tokens are checked (cost cap)
    baseline_completions: int = 64  # first completions that form the completion baseline

    # -- truncation: rise over baseline of clipped ratio and of mean length / max length -------
    clipped_watch: float = 0.10
    clipped_warning: float = 0.20
    clipped_critical: float = 0.50
    length_watch: float = 0.15
    length_warning: float = 0.25
    length_critical: float = 0.50
    length_abs_critical: float = 0.90  # mean length at 90% of the limit is critical whatever the baseline

    # -- repetition ----------------------------------------------------------------------------
    degenerate_ngram4_unique: float = 0.5  # a completion whose 4-grams are <50% distinct is degenerate
    degenerate_min_words: int = 20
    repetitive_watch: float = 0.10     # rise of the share of degenerate completions
    repetitive_warning: float = 0.20
    repetitive_critical: float = 0.50
    unique_ratio_watch: float = 0.80   # unique-token ratio / baseline
    unique_ratio_warning: float = 0.65
    unique_ratio_critical: float = 0.45
    repeat_max_watch: float = 2.0      # arc/ngram4_repeat_max / baseline ...
    repeat_max_warning: float = 3.0
    repeat_max_critical: float = 6.0
    repeat_max_floor: float = 8.0      # ... and at least this many repeats

    # -- gibberish -----------------------------------------------------------------------------
    parse_watch: float = 0.15          # rise of the share of completions with no parseable program
    parse_warning: float = 0.25
    parse_critical: float = 0.45
    pytoken_watch: float = 0.92        # share of valid Python tokens / baseline
    pytoken_warning: float = 0.85
    pytoken_critical: float = 0.65
    digit_run_watch: float = 0.05     # rise of the share of text in runs of 4+ digits ("digit soup")
    digit_run_warning: float = 0.10
    digit_run_critical: float = 0.25

    # -- entropy vs early baseline -------------------------------------------------------------
    entropy_low_watch: float = 0.70
    entropy_low_warning: float = 0.50
    entropy_low_critical: float = 0.30
    entropy_high_watch: float = 1.5
    entropy_high_warning: float = 2.0
    entropy_high_critical: float = 3.0

    # -- spikes vs running median --------------------------------------------------------------
    spike_median_rows: int = 50        # rows of the reference median (lagged behind the recent rows)
    spike_recent_rows: int = 5         # recent rows inspected
    spike_sustained: int = 3           # of the recent rows, this many must spike for warning/critical
    kl_spike: float = 4.0              # value / median
    kl_spike_critical: float = 10.0
    kl_floor: float = 1e-3             # medians below this count as this (KL starts at 0)
    grad_spike: float = 4.0
    grad_spike_critical: float = 10.0
    grad_floor: float = 1e-6

    # -- zero-std groups -----------------------------------------------------------------------
    zero_std_watch: float = 0.15       # rise of frac_reward_zero_std over the run's baseline
    zero_std_warning: float = 0.20
    zero_std_critical: float = 0.50
    zero_std_abs_critical: float = 0.95

    # -- reward fall from its best (smoothed) --------------------------------------------------
    reward_fall_watch: float = 0.20
    reward_fall_warning: float = 0.30
    reward_fall_critical: float = 0.50
    reward_min_best: float = 0.05      # smaller bests are noise around zero

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any] | None, source: str = "params.health") -> "Thresholds":
        if not overrides:
            return cls()
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in known:
                raise HealthConfigError(f"{source}: unknown health threshold {key!r} (known: {', '.join(sorted(known))})")
            want = known[key].type
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise HealthConfigError(f"{source}.{key}: expected a number, got {value!r}")
            if want == "int":
                if float(value) != int(value) or value < 1:
                    raise HealthConfigError(f"{source}.{key}: expected a positive whole number, got {value!r}")
                value = int(value)
            values[key] = float(value) if want == "float" else value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
