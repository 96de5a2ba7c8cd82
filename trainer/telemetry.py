"""Telemetry into the run directory: metrics.jsonl, completions.jsonl and events.jsonl.

The console reads nothing else, so everything a user needs to judge a run goes through here.
`RunFiles` (trainer.runfiles) is the one writer; `TelemetryCallback` turns trainer logs and saves into
lines; `completion_metrics` aggregates per-completion records into `arc/` metrics. GRPO, SFT and
eval all use these, so the files look the same whatever wrote them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from jobs import rundir, textstats
from jobs.records import ERROR_KINDS
from trainer.runfiles import RunFiles, is_main_process

__all__ = ["RunFiles", "TelemetryCallback", "completion_metrics", "is_main_process", "is_summary"]

# Summary keys Trainer logs once at the end; they go into the `stopped` event, not metrics.jsonl.
_SUMMARY_KEYS = {"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss"}


def is_summary(logs: dict[str, Any]) -> bool:
    """The end-of-training summary (train_loss/total_flos over the whole run, no step `loss`).
    Not "has train_runtime": with include_num_input_tokens_seen Trainer puts train_runtime and
    train_tokens_per_second on every step's line, and those lines are metrics."""
    return ("train_loss" in logs or "total_flos" in logs) and "loss" not in logs


def clean_number(v: Any) -> Any:
    """JSON-safe metric value: tensors to floats, NaN/inf to None (JSON has neither)."""
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class TelemetryCallback(TrainerCallback):
    """Writes every logged metric (TRL's names unchanged) and every checkpoint save. (W&B gets
    the same logs from TRL's own callback: trainer.wandb_run.)"""

    def __init__(self, files: RunFiles):
        self.files = files
        self.summary: dict[str, Any] = {}

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero:
            return
        if is_summary(logs):  # not a step's metrics
            self.summary.update({k: clean_number(v) for k, v in logs.items() if k in _SUMMARY_KEYS})
            return
        values = {k: clean_number(v) for k, v in logs.items()}
        if values:
            self.files.metric(state.global_step, values)

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        path = Path(args.output_dir) / f"{rundir.CHECKPOINT_PREFIX}{state.global_step}"
        self.files.event(rundir.EV_CHECKPOINT, step=state.global_step, path=str(path))


# --- per-completion records -> arc/ metrics ----------------------------------------------------


def _stat(values: list[float], fn) -> float | None:
    return fn(values) if values else None


def completion_metrics(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """Aggregate per-completion records (reward, truncated, solved, error, diag) into `arc/` metrics.

    Truncated and untruncated completions are reported apart: collapse starts in the truncated ones.
    """
    if not rows:
        return {}
    rewards = [float(r["reward"]) for r in rows]
    out: dict[str, float | None] = {
        "arc/reward_max": max(rewards),
        "arc/reward_min": min(rewards),
        "arc/truncated_ratio": sum(bool(r["truncated"]) for r in rows) / len(rows),
        "arc/solved_ratio": sum(bool(r.get("solved")) for r in rows) / len(rows),
    }
    for label, subset in (
        ("truncated", [r for r in rows if r["truncated"]]),
        ("untruncated", [r for r in rows if not r["truncated"]]),
    ):
        rs = [float(r["reward"]) for r in subset]
        out[f"arc/{label}_reward_mean"] = _stat(rs, textstats.mean)
        out[f"arc/{label}_reward_max"] = _stat(rs, max)
        for key in ("unique_token_ratio", "ngram3_unique_ratio", "ngram4_unique_ratio"):
            out[f"arc/{label}_{key}"] = _stat([r["diag"][key] for r in subset], textstats.mean)
        for key in ("ngram3_repeat_max", "ngram4_repeat_max"):
            out[f"arc/{label}_{key}"] = _stat([r["diag"][key] for r in subset], max)
    # Over all completions too (the names docs/run-dir.md lists).
    out["arc/unique_token_ratio"] = textstats.mean([r["diag"]["unique_token_ratio"] for r in rows])
    out["arc/ngram3_repeat_max"] = max(r["diag"]["ngram3_repeat_max"] for r in rows)
    out["arc/ngram4_repeat_max"] = max(r["diag"]["ngram4_repeat_max"] for r in rows)
    out["arc/ngram4_unique_ratio"] = textstats.mean([r["diag"]["ngram4_unique_ratio"] for r in rows])
    kinds = list(ERROR_KINDS) + sorted({r["error"] for r in rows if r.get("error")} - set(ERROR_KINDS))
    for kind in kinds:
        out[f"arc/error_{kind}"] = sum(r.get("error") == kind for r in rows) / len(rows)
    out["arc/error_none"] = sum(not r.get("error") for r in rows) / len(rows)
    return out
