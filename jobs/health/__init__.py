"""Collapse detection for GRPO runs (pure Python: no numpy, torch or textual).

Runs collapse after thousands of good steps: completions grow to the length limit, repeat one
phrase, or turn to gibberish; entropy collapses or explodes, KL and grad norm jump, every group gets
the same reward, and the reward falls. The signs show hundreds of steps early. This package watches
metrics.jsonl and completions.jsonl for them.

Live use (trainer guard, dashboard)::

    from jobs.health import HealthMonitor, Thresholds
    mon = HealthMonitor(Thresholds.from_overrides(params.health), max_completion_length=1024)
    raised = mon.update(new_metric_rows, new_completion_rows)   # rows from JsonlTail.read_new()
    for alert in raised: ...            # alerts whose severity rose just now (Alert.to_dict())
    mon.status                          # "healthy" | "watch" | "warning" | "critical"
    mon.alerts                          # every Alert, worst first (sticky highest severity)
    mon.first_step("warning")           # first step any rule reached warning (None: never)
    mon.reset_alerts()                  # keep baselines, forget alerts (a resumed run)

One-shot (CLI `arcctl health`, run screen)::

    from jobs.health import diagnose
    report = diagnose(run_dir, fs)      # fs: LocalFS() or an SFTP RunFS
    report.status, report.alerts, report.healthy_checkpoint, report.to_dict()

Rules (`Alert.rule`): truncation, repetition, gibberish, entropy, kl_spike, grad_norm_spike,
zero_std, reward_fall. Each Alert has severity, first_step, last_step, steps (first step per
severity), message and evidence (the signal values with their baselines, and for completion-based
rules example completions: id, step, task_id, snippet). Thresholds live in `Thresholds`; a
template's `[health]` table overrides any of them by name.
"""

from jobs.health.alerts import CRITICAL, HEALTHY, SEVERITIES, WARNING, WATCH, Alert, severity_level
from jobs.health.monitor import HealthMonitor
from jobs.health.report import HealthReport, diagnose, healthy_checkpoint
from jobs.health.thresholds import HealthConfigError, Thresholds

__all__ = [
    "Alert",
    "HealthMonitor",
    "HealthReport",
    "Thresholds",
    "HealthConfigError",
    "diagnose",
    "healthy_checkpoint",
    "SEVERITIES",
    "HEALTHY",
    "WATCH",
    "WARNING",
    "CRITICAL",
    "severity_level",
]
