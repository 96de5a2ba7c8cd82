"""The trainer's stdout line, one per logged step, in place of Trainer's dict printout:

    step 120/600 (20%)  0.52 st/s  ETA 15m  reward=0.41 kl=0.02 mean_length=212

Speed is smoothed and the ETA computed by jobs.progress, the same way the console does it, so a
log read on the cluster and the dashboard agree. The full numbers are in metrics.jsonl."""

from __future__ import annotations

import time
from typing import Any, Callable

from transformers import TrainerCallback

from jobs import masked_steps
from jobs.progress import ProgressTracker
from trainer.telemetry import is_summary

KEYS = ("reward", "reward_std", "kl", "completions/mean_length", "completions/clipped_ratio", "loss", "arc/time_step_s")


def step_line(
    step: int,
    max_steps: int | None,
    logs: dict[str, Any],
    tracker: ProgressTracker,
    now: float,
    masking: bool | None = None,
) -> str:
    """`masking`: the run's mask_truncated_completions; on a step where every completion was masked,
    TRL's kl/loss zeros print as "–" (not measured, jobs.masked_steps)."""
    tracker.feed([{"step": step, "time": now}])
    prog = tracker.estimate({"max_steps": max_steps})
    head = f"step {prog.step_text()}"
    if prog.fraction is not None:
        head += f" ({prog.fraction:.0%})"
    head += f"  {prog.rate_text()}  ETA {prog.eta_text()}"
    masked = masked_steps.all_masked(logs, masking)
    parts = [
        f"{k.split('/')[-1]}=" + ("–" if masked and masked_steps.is_masked_metric(k) else f"{logs[k]:.4g}")
        for k in KEYS
        if isinstance(logs.get(k), (int, float)) and not isinstance(logs.get(k), bool)
    ]
    if masked:
        parts.append(f"[{masked_steps.LABEL}]")
    return "  ".join([head, " ".join(parts)]) if parts else head


class StepLine(TrainerCallback):
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.tracker = ProgressTracker()
        self.clock = clock

    def on_log(self, args, state, control, logs=None, **kw):
        if not logs or not state.is_world_process_zero or is_summary(logs):
            return
        masking = getattr(args, "mask_truncated_completions", None)
        print(
            step_line(
                state.global_step,
                state.max_steps,
                logs,
                self.tracker,
                self.clock(),
                masking if isinstance(masking, bool) else None,
            ),
            flush=True,
        )


def replace_printer(trainer: Any) -> None:
    """Swap Trainer's printer and tqdm bar for the step line (stdout.log stays readable)."""
    from transformers import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(StepLine())
