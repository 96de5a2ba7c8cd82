"""HealthMonitor: feed it metrics rows and completion rows as they arrive; it keeps rolling series
and evaluates every rule once per metrics row (completion rows only update running sums)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from jobs.health.alerts import SEVERITIES, Alert, HEALTHY, severity_name
from jobs.health.rules import Rule, default_rules
from jobs.health.series import CompletionWindow, Series, number
from jobs.health.textcheck import completion_stats
from jobs.health.thresholds import Thresholds
from jobs.masked_steps import all_masked, is_masked_metric
from jobs.rundir import json_step

# canonical series -> metric names tried in order (TRL's names first, ours under arc/)
METRIC_ALIASES: dict[str, tuple[str, ...]] = {
    "reward": ("reward",),
    "frac_reward_zero_std": ("frac_reward_zero_std",),
    "kl": ("kl",),
    "entropy": ("entropy",),
    "grad_norm": ("grad_norm",),
    "clipped": ("completions/clipped_ratio", "arc/truncated_ratio"),
    "mean_length": ("completions/mean_length",),
    "unique_token_ratio": ("arc/unique_token_ratio",),
    "ngram4_repeat_max": ("arc/ngram4_repeat_max",),
    "parse_share": ("arc/error_parse", "arc/error_share/parse"),
}


class HealthMonitor:
    """Incremental collapse detector for one run.

    `add_completion(row)` for each completions.jsonl row, `add_metrics(row)` for each metrics.jsonl
    row (returns the alerts whose confirmed severity rose at that row), or `update(metrics, completions)`
    to feed both lists merged by step. `alerts`, `status`, `first_step("warning")` read the state.
    """

    def __init__(
        self,
        thresholds: Thresholds | Mapping[str, Any] | None = None,
        max_completion_length: int | None = None,
        rules: list[Rule] | None = None,
        mask_truncated: bool | None = None,
    ):
        if thresholds is None or isinstance(thresholds, Mapping):
            thresholds = Thresholds.from_overrides(thresholds)
        self.th = thresholds
        self.max_completion_length = max_completion_length
        self.mask_truncated = mask_truncated  # the run's mask_truncated_completions (None: unknown)
        self.masked_rows = 0  # rows whose every completion was truncated and masked (jobs.masked_steps)
        self.rules = rules or default_rules()
        self._series: dict[str, Series] = {}
        self.completions = CompletionWindow(self.th)
        self.reward_best: tuple[float, int] | None = None
        self.step: int | None = None
        self.rows = 0
        self._tok_step: int | None = None
        self._tok_count = 0
        self._alerts: dict[str, Alert] = {}
        self._streak: dict[str, list[int]] = {r.name: [0, 0, 0, 0] for r in self.rules}

    # -- feeding -----------------------------------------------------------------------------
    def add_completion(self, row: Mapping[str, Any]) -> None:
        # Python's tokenizer is the costly part (~1 ms per 1000 characters): a sample per step is enough
        step = _step(row)
        if step != self._tok_step:
            self._tok_step, self._tok_count = step, 0
        self._tok_count += 1
        self.completions.add(completion_stats(row, tokenize_text=self._tok_count <= self.th.tokenize_per_step))

    def add_metrics(self, row: Mapping[str, Any]) -> list[Alert]:
        step = _step(row)
        if step is None:
            return []
        self.rows += 1
        self.step = step
        zero_std = number(row.get("frac_reward_zero_std"))
        # When every group earned one reward there is no advantage: the gradient is the KL term
        # alone, orders of magnitude smaller. Such rows are not comparable with the others, so
        # grad_norm is judged on rows that had a learning signal only.
        no_signal = zero_std is not None and zero_std >= 0.999
        # With every completion masked out of the loss, TRL logs 0 for what it measures over the
        # mask: placeholders that must not enter a baseline, a rolling mean or a spike reference.
        masked = all_masked(row, self.mask_truncated)
        self.masked_rows += masked
        for name, aliases in METRIC_ALIASES.items():
            if name == "grad_norm" and no_signal:
                continue
            if masked and is_masked_metric(name):
                continue
            for key in aliases:
                v = number(row.get(key))
                if v is not None:
                    self._series.setdefault(name, Series(self.th)).push(v, step)
                    break
        rew = self._series.get("reward")
        if rew is not None and rew.baseline is not None and rew.smoothed_ready:
            if self.reward_best is None or rew.mean > self.reward_best[0]:
                self.reward_best = (rew.mean, step)
        return self._evaluate(step)

    def update(
        self, metrics: Iterable[Mapping[str, Any]] = (), completions: Iterable[Mapping[str, Any]] = ()
    ) -> list[Alert]:
        """Feed both kinds merged by step: completions of step s are counted before the metrics row of s."""
        pending = sorted(completions, key=lambda r: _step(r) or 0)
        i, raised = 0, []
        for row in metrics:
            s = _step(row)
            while i < len(pending) and s is not None and (_step(pending[i]) or 0) <= s:
                self.add_completion(pending[i])
                i += 1
            raised.extend(self.add_metrics(row))
        for row in pending[i:]:  # completions ahead of the newest metrics row wait in the window
            self.add_completion(row)
        return raised

    def reset_alerts(self) -> None:
        """Forget alerts but keep every baseline and window: a resumed run is judged afresh from
        its resume step against its own history (a collapse that stopped it before is not
        re-reported, and one that is still going is raised again after `persist` rows)."""
        self._alerts.clear()
        self._streak = {r.name: [0, 0, 0, 0] for r in self.rules}

    # -- reading -----------------------------------------------------------------------------
    def series(self, name: str) -> Series | None:
        return self._series.get(name)

    @property
    def alerts(self) -> list[Alert]:
        return sorted(self._alerts.values(), key=lambda a: (-a.level, a.first_step))

    @property
    def level(self) -> int:
        return max((a.level for a in self._alerts.values()), default=HEALTHY)

    @property
    def status(self) -> str:
        return severity_name(self.level)

    def first_step(self, severity: str) -> int | None:
        """First step at which any rule reached `severity` (or worse)."""
        want = SEVERITIES.index(severity)
        steps = [s for a in self._alerts.values() for name, s in a.steps.items() if SEVERITIES.index(name) >= want]
        return min(steps) if steps else None

    # -- evaluation --------------------------------------------------------------------------
    def _evaluate(self, step: int) -> list[Alert]:
        raised = []
        for rule in self.rules:
            finding = rule.evaluate(self)
            level = finding.level if finding else HEALTHY
            streak = self._streak[rule.name]
            for lv in range(1, 4):
                streak[lv] = streak[lv] + 1 if level >= lv else 0
            persist = getattr(self.th, rule.persist_attr) if rule.persist_attr else 1
            confirmed = max((lv for lv in range(1, 4) if streak[lv] >= persist), default=HEALTHY)
            alert = self._alerts.get(rule.name)
            if alert is not None:
                alert.current = severity_name(confirmed)
                if level > HEALTHY:
                    alert.last_step = step
            if confirmed == HEALTHY or (alert is not None and confirmed <= alert.level):
                continue
            if alert is None:
                alert = Alert(rule.name, "healthy", first_step=step, last_step=step)
                self._alerts[rule.name] = alert
            for lv in range(alert.level + 1, confirmed + 1):
                alert.steps[severity_name(lv)] = step
            alert.severity = alert.current = severity_name(confirmed)
            alert.message = finding.message
            alert.evidence = {"step": step, "signals": finding.signals}
            if finding.examples:
                alert.evidence["examples"] = finding.examples
            raised.append(alert)
        return raised


def _step(row: Mapping[str, Any]) -> int | None:
    """The row's step: only a JSON integer (jobs.rundir.json_step; never True, "5" or 5.5)."""
    return json_step(row.get("step"))
