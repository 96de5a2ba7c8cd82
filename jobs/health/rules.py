"""The detectors. Each rule looks at the monitor's rolling series and returns a raw level for the
current row (0 healthy .. 3 critical) with the numbers behind it; the monitor confirms a level
once it holds for `persist` rows (spike rules aggregate their own recent rows, so persist=1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobs.health.alerts import CRITICAL, HEALTHY, WARNING, WATCH

if TYPE_CHECKING:
    from jobs.health.monitor import HealthMonitor


@dataclass
class Finding:
    level: int
    message: str
    signals: dict[str, Any]
    examples: list[dict[str, Any]] | None = None


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 5)


class Rule:
    name = ""
    persist_attr = "persist"  # Thresholds field giving the rows a level must hold

    def evaluate(self, m: "HealthMonitor") -> Finding | None:
        raise NotImplementedError


def _best(findings: list[tuple[int, str, str, dict[str, Any]]]) -> tuple[int, str, dict[str, Any]]:
    """Combine signals: the rule's level is the worst signal's; every signal goes in the evidence."""
    level, msg = HEALTHY, ""
    signals: dict[str, Any] = {}
    for lv, name, text, sig in findings:
        signals[name] = dict(sig, level=lv)
        if lv > level:
            level, msg = lv, text
    return level, msg, signals


def _share_rise(completions, field: str, band, signal: str, text: str) -> tuple[int, str, str, dict[str, Any]]:
    """A signal from the rise of a per-completion share (e.g. truncated) over its baseline; `text`
    has one `{}` for the current share."""
    cur, base = completions.mean(field), completions.baseline[field]
    return (
        band.up(cur - base),
        signal,
        text.format(f"{cur:.0%}") + f" (baseline {base:.0%})",
        {"value": _r(cur), "baseline": _r(base)},
    )


class Truncation(Rule):
    name = "truncation"

    def evaluate(self, m):
        th, out = m.th, []
        clipped = m.series("clipped")
        if clipped and clipped.baseline is not None and clipped.smoothed_ready:
            rise = clipped.mean - clipped.baseline
            lv = th.clipped.up(rise) if clipped.significant(rise) else HEALTHY
            out.append(
                (
                    lv,
                    "clipped_ratio",
                    f"clipped ratio {clipped.mean:.2f} (baseline {clipped.baseline:.2f})",
                    {"value": _r(clipped.mean), "baseline": _r(clipped.baseline)},
                )
            )
        elif clipped is None and m.completions.baseline is not None and m.completions.items:
            out.append(
                _share_rise(m.completions, "truncated", th.clipped, "truncated_share", "truncated completions {}")
            )
        length = m.series("mean_length")
        if length and length.baseline is not None and length.smoothed_ready and m.max_completion_length:
            frac, base = length.mean / m.max_completion_length, length.baseline / m.max_completion_length
            lv = th.length.up(frac - base)
            if frac >= th.length_abs_critical and frac - base >= th.length_watch:
                lv = CRITICAL
            if not length.significant(length.mean - length.baseline):
                lv = HEALTHY
            out.append(
                (
                    lv,
                    "mean_length",
                    f"mean length {length.mean:.0f} = {frac:.0%} of the limit (baseline {base:.0%})",
                    {
                        "value": _r(length.mean),
                        "fraction_of_limit": _r(frac),
                        "baseline_fraction": _r(base),
                        "max_completion_length": m.max_completion_length,
                    },
                )
            )
        if not out:
            return None
        level, msg, signals = _best(out)
        return Finding(
            level,
            msg,
            signals,
            _ranked(m.completions, lambda c, v: -c.n_words - 1e9 * c.truncated, "n_words", lambda c, v: c.n_words)
            if level and m.completions.items
            else None,
        )


class Repetition(Rule):
    name = "repetition"

    def evaluate(self, m):
        th, out, cw = m.th, [], m.completions
        if cw.baseline is not None and cw.items:
            out.append(
                _share_rise(cw, "degenerate", th.repetitive, "repetitive_share", "{} of completions repeat one phrase")
            )
        uniq = m.series("unique_token_ratio")
        if uniq and uniq.baseline and uniq.smoothed_ready:
            ratio = uniq.mean / uniq.baseline
            lv = th.unique_ratio.down(ratio)
            out.append(
                (
                    lv if uniq.significant(uniq.mean - uniq.baseline) else HEALTHY,
                    "unique_token_ratio",
                    f"unique-token ratio {uniq.mean:.2f} = {ratio:.0%} of baseline",
                    {"value": _r(uniq.mean), "baseline": _r(uniq.baseline)},
                )
            )
        elif cw.baseline is not None and cw.items and cw.baseline["unique_token_ratio"] > 0:
            cur = cw.mean("unique_token_ratio")
            ratio = cur / cw.baseline["unique_token_ratio"]
            out.append(
                (
                    th.unique_ratio.down(ratio),
                    "unique_token_ratio",
                    f"unique-token ratio {cur:.2f} = {ratio:.0%} of baseline",
                    {"value": _r(cur), "baseline": _r(cw.baseline["unique_token_ratio"])},
                )
            )
        rep = m.series("ngram4_repeat_max")
        if rep and rep.baseline is not None and rep.smoothed_ready:
            ratio = rep.mean / max(rep.baseline, 1.0)
            lv = th.repeat_max.up(ratio)
            if rep.mean < th.repeat_max_floor or not rep.significant(rep.mean - rep.baseline):
                lv = HEALTHY
            out.append(
                (
                    lv,
                    "ngram4_repeat_max",
                    f"most repeated 4-gram x{rep.mean:.0f} ({ratio:.1f}x baseline)",
                    {"value": _r(rep.mean), "baseline": _r(rep.baseline)},
                )
            )
        if not out:
            return None
        level, msg, signals = _best(out)
        examples = (
            _ranked(cw, lambda c, v: c.ngram4_unique_ratio, "ngram4_unique_ratio") if level and cw.items else None
        )
        return Finding(level, msg, signals, examples)


def _ranked(cw, key, label: str, show=None, k: int = 3) -> list[dict[str, Any]]:
    """The k completions of the window that rank lowest by `key`, with the number shown as `label`."""
    items = sorted(cw.items, key=lambda it: key(*it))[:k]
    show = show or key
    return [dict(c.ref, **{label: _r(show(c, v))}) for c, v in items]


class Gibberish(Rule):
    """Programs that do not parse, not counting truncated ones (a cut-off program never parses;
    that is the truncation rule's business), text that stops tokenizing as Python, and digit soup."""

    name = "gibberish"

    def evaluate(self, m):
        th, out, cw = m.th, [], m.completions
        if cw.baseline is not None and cw.items:
            cur, base = cw.mean("parse_error"), cw.baseline["parse_error"]
        else:
            parse = m.series("parse_share")  # only the metric (it includes truncated ones)
            ready = (
                parse is not None
                and parse.baseline is not None
                and parse.smoothed_ready
                and parse.significant(parse.mean - parse.baseline)
            )
            cur, base = (parse.mean, parse.baseline) if ready else (None, None)
        if cur is not None:
            out.append(
                (
                    th.parse.up(cur - base),
                    "parse_error_share",
                    f"{cur:.0%} of completions have no parseable program (baseline {base:.0%})",
                    {"value": _r(cur), "baseline": _r(base)},
                )
            )
        if cw.baseline is not None and cw.mean("pytoken_share") is not None and cw.baseline["pytoken_share"] > 0:
            cur, base = cw.mean("pytoken_share"), cw.baseline["pytoken_share"]
            out.append(
                (
                    th.pytoken.down(cur / base),
                    "python_token_share",
                    f"valid Python tokens {cur:.0%} of the text (baseline {base:.0%})",
                    {"value": _r(cur), "baseline": _r(base)},
                )
            )
        if cw.baseline is not None and cw.items:
            # counted on truncated completions too: digit soup runs on until the length limit
            cur, base = cw.mean("digit_run_share"), cw.baseline["digit_run_share"]
            out.append(
                (
                    th.digit_run.up(cur - base),
                    "digit_run_share",
                    f"{cur:.0%} of the text is runs of 4+ digits (baseline {base:.0%})",
                    {"value": _r(cur), "baseline": _r(base)},
                )
            )
        if not out:
            return None
        level, msg, signals = _best(out)
        examples = None
        if level and cw.items and signals.get("digit_run_share", {}).get("level") == level:
            examples = _ranked(
                cw, lambda c, v: -v["digit_run_share"], "digit_run_share", lambda c, v: v["digit_run_share"]
            )
        elif level and cw.items:
            examples = _ranked(
                cw,
                lambda c, v: (1.0 if v["pytoken_share"] is None else v["pytoken_share"]) - v["parse_error"],
                "python_token_share",
                lambda c, v: v["pytoken_share"],
            )
        return Finding(level, msg, signals, examples)


class Entropy(Rule):
    name = "entropy"

    def evaluate(self, m):
        s, th = m.series("entropy"), m.th
        if not s or not s.baseline or not s.smoothed_ready:
            return None
        ratio = s.mean / s.baseline
        low = th.entropy_low.down(ratio)
        high = th.entropy_high.up(ratio)
        kind = "collapse" if low >= high else "explosion"
        level = max(low, high) if s.significant(s.mean - s.baseline) else HEALTHY
        return Finding(
            level,
            f"entropy {kind}: {s.mean:.3g} = {ratio:.2f}x the early baseline {s.baseline:.3g}",
            {"entropy": {"value": _r(s.mean), "baseline": _r(s.baseline), "ratio": _r(ratio), "kind": kind}},
        )


class Spike(Rule):
    """Value against the median of older rows: one spiking row is a watch; `spike_sustained` of the
    recent rows spiking is a warning, or critical when they exceed the critical factor."""

    persist_attr = ""

    def __init__(self, name: str, key: str, factor: str, critical: str, floor: str):
        self.name, self.key = name, key
        self._factor, self._critical, self._floor = factor, critical, floor

    def evaluate(self, m):
        s, th = m.series(self.key), m.th
        if not s:
            return None
        ref = s.reference_median
        if ref is None:
            return None
        base = max(ref, getattr(th, self._floor))
        factor, critical = getattr(th, self._factor), getattr(th, self._critical)
        ratios = [v / base for v in s.recent]
        n_spike = sum(r >= factor for r in ratios)
        n_crit = sum(r >= critical for r in ratios)
        level = HEALTHY
        if ratios and ratios[-1] >= factor:
            level = WATCH
        if n_spike >= th.spike_sustained:
            level = WARNING
        if n_crit >= th.spike_sustained:
            level = CRITICAL
        return Finding(
            level,
            f"{self.key} {s.last:.3g} = {s.last / base:.1f}x its running median {ref:.3g} "
            f"({n_spike}/{len(ratios)} recent rows spiking)",
            {
                self.key: {
                    "value": _r(s.last),
                    "running_median": _r(ref),
                    "ratio": _r(s.last / base),
                    "recent": [_r(v) for v in s.recent],
                }
            },
        )


class ZeroStd(Rule):
    """Groups whose completions all earn the same reward teach nothing; a rise toward 1 means the
    policy stopped exploring (or everything fails). Judged by the rise over the run's own level,
    and critical near 1 whatever the baseline."""

    name = "zero_std"

    def evaluate(self, m):
        s, th = m.series("frac_reward_zero_std"), m.th
        if not s or s.baseline is None or not s.smoothed_ready:
            return None
        rise = s.mean - s.baseline
        level = th.zero_std.up(rise)
        if s.mean >= th.zero_std_abs_critical and rise >= th.zero_std_watch:
            level = CRITICAL
        if not s.significant(rise):
            level = HEALTHY
        return Finding(
            level,
            f"{s.mean:.0%} of groups have zero reward spread (baseline {s.baseline:.0%})",
            {"frac_reward_zero_std": {"value": _r(s.mean), "baseline": _r(s.baseline), "rise": _r(rise)}},
        )


class RewardFall(Rule):
    name = "reward_fall"

    def evaluate(self, m):
        s, th = m.series("reward"), m.th
        if not s or s.baseline is None or not s.smoothed_ready:
            return None
        best = m.reward_best
        if best is None or abs(best[0]) < th.reward_min_best:
            return None
        fall = (best[0] - s.mean) / abs(best[0])
        level = th.reward_fall.up(fall)
        if not s.significant(best[0] - s.mean):  # the best of a noisy curve is partly noise
            level = HEALTHY
        return Finding(
            level,
            f"smoothed reward {s.mean:.3g} is {fall:.0%} below its best {best[0]:.3g} (step {best[1]})",
            {"reward": {"value": _r(s.mean), "best": _r(best[0]), "best_step": best[1], "fall": _r(fall)}},
        )


def default_rules() -> list[Rule]:
    return [
        Truncation(),
        Repetition(),
        Gibberish(),
        Entropy(),
        Spike("kl_spike", "kl", "kl_spike", "kl_spike_critical", "kl_floor"),
        Spike("grad_norm_spike", "grad_norm", "grad_spike", "grad_spike_critical", "grad_floor"),
        ZeroStd(),
        RewardFall(),
    ]
