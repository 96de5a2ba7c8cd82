"""Detector thresholds: defaults that suit GRPO on ARC, overridable per template.

A template's `[health]` table lands in `params.health` (a flat dict of numbers); `Thresholds.from_overrides`
applies it and names the offending key when one is unknown or not a number. A signal judged on three
levels holds them as one `Levels`; its flat names are `<signal>_watch`, `<signal>_warning` and
`<signal>_critical` (`clipped_warning = 0.3`). Windows count metric rows (one per logging step), so a
run that logs every step reacts within `window` steps.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Mapping, NamedTuple

from jobs.errors import JobsError
from jobs.health.alerts import CRITICAL, HEALTHY, WARNING, WATCH


class HealthConfigError(JobsError):
    pass


class Levels(NamedTuple):
    """The boundaries of one signal's raw levels."""

    watch: float
    warning: float
    critical: float

    def up(self, x: float) -> int:
        """Level of a signal that is bad when high (x at or above a boundary)."""
        return (
            CRITICAL if x >= self.critical else WARNING if x >= self.warning else WATCH if x >= self.watch else HEALTHY
        )

    def down(self, x: float) -> int:
        """Level of a signal that is bad when low (x at or below a boundary)."""
        return (
            CRITICAL if x <= self.critical else WARNING if x <= self.warning else WATCH if x <= self.watch else HEALTHY
        )


@dataclass(frozen=True)
class Thresholds:
    # -- shared windows ------------------------------------------------------------------------
    window: int = 20  # rows in the rolling mean of a drifting metric
    persist: int = 3  # consecutive rows a drift level must hold before it is raised
    baseline_skip: int = 3  # warm-up rows ignored by the baseline
    baseline_rows: int = 20  # rows whose mean is the run's own early baseline
    completion_window: int = 256  # most recent completions summarised
    completion_window_steps: int = 200  # ... and none older than this many steps
    noise_k: float = 3.0  # a drift must exceed this many standard errors of the baseline
    tokenize_per_step: int = 32  # completions per step whose Python tokens are checked (cost cap)
    baseline_completions: int = 64  # first completions that form the completion baseline

    # -- truncation: rise over baseline of clipped ratio and of mean length / max length -------
    clipped: Levels = Levels(0.10, 0.20, 0.50)
    length: Levels = Levels(0.15, 0.25, 0.50)
    length_abs_critical: float = 0.90  # mean length at 90% of the limit is critical whatever the baseline

    # -- repetition ----------------------------------------------------------------------------
    degenerate_ngram4_unique: float = 0.5  # a completion whose 4-grams are <50% distinct is degenerate
    degenerate_min_words: int = 20
    repetitive: Levels = Levels(0.10, 0.20, 0.50)  # rise of the share of degenerate completions
    unique_ratio: Levels = Levels(0.80, 0.65, 0.45)  # unique-token ratio / baseline (low is bad)
    repeat_max: Levels = Levels(2.0, 3.0, 6.0)  # arc/ngram4_repeat_max / baseline ...
    repeat_max_floor: float = 8.0  # ... and at least this many repeats

    # -- gibberish -----------------------------------------------------------------------------
    parse: Levels = Levels(0.15, 0.25, 0.45)  # rise of the share of completions with no parseable program
    pytoken: Levels = Levels(0.92, 0.85, 0.65)  # share of valid Python tokens / baseline (low is bad)
    digit_run: Levels = Levels(0.05, 0.10, 0.25)  # rise of the share of text in runs of 4+ digits ("digit soup")

    # -- entropy / early baseline: a collapse (low) or an explosion (high) ---------------------
    entropy_low: Levels = Levels(0.70, 0.50, 0.30)
    entropy_high: Levels = Levels(1.5, 2.0, 3.0)

    # -- spikes vs running median --------------------------------------------------------------
    spike_median_rows: int = 50  # rows of the reference median (lagged behind the recent rows)
    spike_recent_rows: int = 5  # recent rows inspected
    spike_sustained: int = 3  # of the recent rows, this many must spike for warning/critical
    kl_spike: float = 4.0  # value / median
    kl_spike_critical: float = 10.0
    kl_floor: float = 1e-3  # medians below this count as this (KL starts at 0)
    grad_spike: float = 4.0
    grad_spike_critical: float = 10.0
    grad_floor: float = 1e-6

    # -- zero-std groups: rise of frac_reward_zero_std over the run's baseline; fall of reward --
    zero_std: Levels = Levels(0.15, 0.20, 0.50)
    zero_std_abs_critical: float = 0.95
    reward_fall: Levels = Levels(0.20, 0.30, 0.50)  # fall of the smoothed reward from its best
    reward_min_best: float = 0.05  # smaller bests are noise around zero

    @classmethod
    def names(cls) -> dict[str, type]:
        """Every flat threshold name a `[health]` table may set, with its type (int or float)."""
        out: dict[str, type] = {}
        for f in fields(cls):
            if f.type == "Levels":
                out.update({f"{f.name}_{part}": float for part in Levels._fields})
            else:
                out[f.name] = int if f.type == "int" else float
        return out

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any] | None, source: str = "params.health") -> "Thresholds":
        if not overrides:
            return cls()
        known = cls.names()
        values: dict[str, Any] = {}
        levels: dict[str, dict[str, float]] = {}
        for key, value in overrides.items():
            if key not in known:
                raise HealthConfigError(
                    f"{source}: unknown health threshold {key!r} (known: {', '.join(sorted(known))})"
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise HealthConfigError(f"{source}.{key}: expected a number, got {value!r}")
            if known[key] is int:
                if float(value) != int(value) or value < 1:
                    raise HealthConfigError(f"{source}.{key}: expected a positive whole number, got {value!r}")
                values[key] = int(value)
            elif key in cls.__dataclass_fields__:
                values[key] = float(value)
            else:
                signal, part = key.rsplit("_", 1)
                levels.setdefault(signal, {})[part] = float(value)
        th = cls(**values)
        return replace(th, **{s: getattr(th, s)._replace(**parts) for s, parts in levels.items()})

    def __getattr__(self, name: str) -> float:
        # flat names (`clipped_warning`) read the part of their Levels
        signal, _, part = name.rpartition("_")
        if part in Levels._fields and signal in type(self).__dataclass_fields__:
            return getattr(getattr(self, signal), part)
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        """Flat names -> values, as a `[health]` table writes them."""
        return {name: getattr(self, name) for name in self.names()}
