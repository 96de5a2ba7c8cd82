"""diagnose(run_dir): read a run dir (locally or over SFTP) through the same monitor the trainer
uses, and name the checkpoint to go back to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobs import rundir
from jobs.health.alerts import Alert
from jobs.health.monitor import HealthMonitor
from jobs.health.thresholds import Thresholds
from jobs.masked_steps import EXPLANATION as MASKED_EXPLANATION
from jobs.masked_steps import LABEL as MASKED_LABEL
from jobs.masked_steps import masking_of
from jobs.rundir import Checkpoint, JsonlTail, LocalFS, RunFS


@dataclass
class HealthReport:
    run_dir: str
    status: str  # healthy / watch / warning / critical
    alerts: list[Alert]
    step: int | None  # newest metrics step read
    first_warning_step: int | None
    healthy_checkpoint: Checkpoint | None
    checkpoints: list[Checkpoint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        ck = self.healthy_checkpoint
        return {
            "run_dir": self.run_dir,
            "status": self.status,
            "step": self.step,
            "first_warning_step": self.first_warning_step,
            "healthy_checkpoint": None if ck is None else {"name": ck.name, "step": ck.step, "path": ck.path},
            "alerts": [a.to_dict() for a in self.alerts],
            "notes": list(self.notes),
        }


def healthy_checkpoint(checkpoints: list[Checkpoint], first_warning_step: int | None) -> Checkpoint | None:
    """The newest valid checkpoint saved strictly before the first warning (any, when none)."""
    valid = [c for c in checkpoints if c.valid and (first_warning_step is None or c.step < first_warning_step)]
    return valid[-1] if valid else None


def report_from(
    monitor: HealthMonitor, run_dir: str, checkpoints: list[Checkpoint], notes: list[str] | None = None
) -> HealthReport:
    first_warning = monitor.first_step("warning")
    return HealthReport(
        run_dir=run_dir,
        status=monitor.status,
        alerts=monitor.alerts,
        step=monitor.step,
        first_warning_step=first_warning,
        healthy_checkpoint=healthy_checkpoint(checkpoints, first_warning),
        checkpoints=checkpoints,
        notes=notes or [],
    )


def settings_from_spec(run_dir: str, fs: RunFS) -> tuple[Thresholds, int | None, list[str]]:
    """Thresholds and max_completion_length from the run's spec.json (defaults when unreadable)."""
    path = f"{run_dir.rstrip('/')}/{rundir.SPEC}"
    return _settings(path, _spec_or_none(path, fs))


def _settings(path: str, spec: dict[str, Any] | None) -> tuple[Thresholds, int | None, list[str]]:
    params = spec.get("params") or {} if spec is not None else None
    if not isinstance(params, dict):
        return Thresholds(), None, [f"{path}: missing or unreadable; default thresholds, length limit unknown"]
    th = Thresholds.from_overrides(params.get("health") or {}, source=f"{path}: params.health")
    mcl = params.get("max_completion_length")
    return th, mcl if isinstance(mcl, int) and mcl > 0 else None, []


RL_KINDS = ("grpo", "grpo-refine")


def judged(kind: str | None) -> bool:
    """The rules describe RL collapse (reward, KL, clipped completions); SFT's falling entropy and
    loss are what it is for, so SFT and eval runs are not judged. Unknown kinds are."""
    return kind is None or kind in RL_KINDS


class UnreadableRun(ValueError):
    """strict diagnose: the folder is no run dir, or its spec.json makes no sense."""


def diagnose(
    run_dir: str,
    fs: RunFS | None = None,
    thresholds: Thresholds | None = None,
    max_completion_length: int | None = None,
    strict: bool = False,
) -> HealthReport:
    """strict (`arcctl health`): a folder with neither spec.json nor metrics.jsonl, or a spec.json
    that is no JSON object with an object of params, raises UnreadableRun instead of being judged
    with default thresholds, so a mistyped path never reads as a healthy run."""
    fs = fs or LocalFS()
    run_dir = str(run_dir)
    base = run_dir.rstrip("/")
    spec = _spec_or_none(f"{base}/{rundir.SPEC}", fs)  # read once: over SFTP every read is a round trip
    if strict and spec is None:
        _refuse_unreadable(base, fs)
    th, mcl, notes = _settings(f"{base}/{rundir.SPEC}", spec)
    monitor = HealthMonitor(thresholds or th, max_completion_length or mcl, mask_truncated=masking_of(spec))
    metrics_tail = JsonlTail(f"{base}/{rundir.METRICS}", fs)
    completions_tail = JsonlTail(f"{base}/{rundir.COMPLETIONS}", fs)
    metrics = metrics_tail.read_new()
    completions = completions_tail.read_new()
    if not metrics and not fs.exists(f"{base}/{rundir.METRICS}"):
        notes.append(f"{base}/{rundir.METRICS}: not written yet")
    kind = (spec or {}).get("kind")
    kind = kind if isinstance(kind, str) else None
    if judged(kind):
        monitor.update(metrics, completions)
    else:
        notes.append(f"{base}/{rundir.SPEC}: a {kind} run; the collapse rules judge RL (GRPO) runs only")
    if monitor.masked_rows:
        notes.append(f"{monitor.masked_rows} step(s) {MASKED_LABEL} ({MASKED_EXPLANATION}); not judged on them")
    for tail in (metrics_tail, completions_tail):
        if tail.bad_lines:
            notes.append(f"{tail.path}: skipped {tail.bad_lines} malformed line(s)")
    return report_from(monitor, run_dir, rundir.list_checkpoints(run_dir, fs), notes)


def _refuse_unreadable(base: str, fs: RunFS) -> None:
    spec_path = f"{base}/{rundir.SPEC}"
    if fs.exists(spec_path):
        try:
            rundir.loads(fs.read_text(spec_path))  # again, for why: only on this error path
        except OSError as e:
            raise UnreadableRun(f"{spec_path}: {e.strerror or e}; cannot judge this run") from None
        except ValueError as e:
            raise UnreadableRun(f"{spec_path}: {str(e)[:200]}; cannot judge this run") from None
        raise UnreadableRun(f"{spec_path}: not a JSON object with a params object; cannot judge this run")
    if not fs.exists(f"{base}/{rundir.METRICS}"):
        raise UnreadableRun(f"{base}: not a run dir (no {rundir.SPEC} and no {rundir.METRICS})")


def _spec_or_none(path: str, fs: RunFS) -> dict[str, Any] | None:
    try:
        spec = rundir.loads(fs.read_text(path))
    except (OSError, ValueError):
        return None
    return spec if isinstance(spec, dict) and isinstance(spec.get("params", {}), dict) else None
