"""The GRPO reward function: run each completion's program on its (augmented) task and score it.

TRL calls it once per generation batch with every completion of the batch, so the whole batch goes
to the sandbox in one `score_completions` call. With telemetry on, it also records each completion
(completions.jsonl) and the `arc/` metrics of the batch (through TRL's `log_metric`, so they are
averaged per logging step like TRL's own metrics).
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any

from jobs import textstats
from trainer import rewards
from trainer.telemetry import RunFiles, completion_metrics


@dataclass
class Row:
    """One dataset row: which task, seen through which augmentation."""

    task_id: str
    augmentation: dict[str, Any] | None
    task: Any  # trainer.data.Task, already augmented


class Timing:
    """Seconds spent per phase since the last logging step (shared by trainer, reward, callback)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.generation = 0.0
        self.reward = 0.0
        self.step_total = 0.0
        self.steps = 0

    def as_metrics(self) -> dict[str, float]:
        n = max(self.steps, 1)
        gen, rew, tot = self.generation / n, self.reward / n, self.step_total / n
        return {
            "arc/time_generation_s": gen,
            "arc/time_reward_s": rew,
            "arc/time_optimization_s": max(tot - gen - rew, 0.0),
            "arc/time_step_s": tot,
        }


class ArcReward:
    """Callable reward for GRPOTrainer. `files=None` turns telemetry off (benchmark baseline)."""

    def __init__(self, rows: list[Row], sandbox, reward_name: str, files: RunFiles | None = None,
                 sample: float = 1.0, seed: int = 0, timing: Timing | None = None,
                 eos_ids: list[int] | None = None):
        self.__name__ = "arc_reward"  # TRL names the reward column after the function
        self.rows = rows
        self.sandbox = sandbox
        self.reward_name = reward_name
        self.files = files
        self.sample = sample
        self.rng = random.Random(seed)
        self.timing = timing
        self.eos_ids = set(eos_ids or [])

    def __call__(self, prompts, completions, completion_ids=None, row_id=None, trainer_state=None,
                 log_metric=None, **_) -> list[float]:
        t0 = time.perf_counter()
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
        rows = [self.rows[int(i)] for i in row_id]
        results = rewards.score_completions(texts, [r.task for r in rows], self.sandbox, self.reward_name)
        scores = [float(r.reward) for r in results]
        if self.timing is not None:
            self.timing.reward += time.perf_counter() - t0
        if self.files is not None:
            step = (trainer_state.global_step + 1) if trainer_state is not None else 0
            self._record(step, texts, completion_ids, rows, results, log_metric)
        return scores

    def _record(self, step, texts, completion_ids, rows, results, log_metric) -> None:
        records = []
        for i, (text, row, res) in enumerate(zip(texts, rows, results)):
            ids = list(completion_ids[i]) if completion_ids is not None else textstats.words(text)
            # Truncated = generation stopped at the length limit, not at EOS (TRL's clipped rule).
            truncated = bool(ids) and ids[-1] not in self.eos_ids if self.eos_ids else False
            records.append({
                "id": f"{step}:{i}",
                "step": step,
                "task_id": row.task_id,
                "augmentation": row.augmentation,
                "reward": res.reward,
                "n_tokens": len(ids),
                "truncated": truncated,
                "error": res.error,
                "solved": res.solved,
                "pixel_score": round(res.pixel_score, 4),
                "correct_train": res.correct_train,
                "correct_test": res.correct_test,
                "diag": textstats.diagnostics(ids),
                "outputs": _outputs_for_record(res.outputs, row.augmentation),
                "completion": text,
            })
        if log_metric is not None:
            for name, value in completion_metrics(records).items():
                log_metric(name, math.nan if value is None else float(value))
        keep = records if self.sample >= 1 else [r for r in records if self.rng.random() < self.sample]
        self.files.completions(keep)


def _outputs_for_record(outputs, augmentation) -> list | None:
    """The program's grids in the original task's frame, compact and size-capped (jobs.arcgrids):
    the console draws them next to the task's own pairs."""
    from jobs import arcgrids

    if not outputs:
        return None
    if augmentation:
        from trainer.augment import Augmentation

        aug = Augmentation.from_dict(augmentation)
        try:
            outputs = [aug.invert_grid(g) for g in outputs]
        except ValueError:  # not a grid of colours 0-9: nothing to draw
            return None
    return arcgrids.encode_outputs(outputs)
