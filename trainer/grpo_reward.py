"""The GRPO reward function: run each completion's program on its (augmented) task and score it.

TRL calls it once per generation batch with every completion of the batch, so the whole batch goes
to the sandbox in one `score_completions` call. With telemetry on, it also records each completion
(completions.jsonl) and the `arc/` metrics of the batch (through TRL's `log_metric`, so they are
averaged per logging step like TRL's own metrics).

`Shaping` holds the remedies against collapse that act on the reward (an n-gram repetition
penalty, a fixed reward for truncated completions, a length tie-break inside groups whose rewards
are all equal); they apply after the ARC reward, in that order, and completions.jsonl keeps both
numbers (`reward_arc` before, `reward` after).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any

from jobs import textstats
from trainer import grid_scoring as rewards
from trainer.telemetry import RunFiles, completion_metrics


@dataclass
class Row:
    """One dataset row: which task, seen through which augmentation."""

    task_id: str
    augmentation: dict[str, Any] | None
    task: Any  # trainer.data.Task, already augmented


# The most a tie-break adds: below every gap between two ARC rewards of the same task (>= 1 in
# arc-v2, and groups with a pixel-score difference are not ties), so it only orders equals.
TIE_BREAK_BONUS = 0.1


@dataclass(frozen=True)
class Shaping:
    """Reward remedies; the defaults change nothing."""

    ngram_penalty: float = 0.0
    ngram_size: int = 4
    truncated_reward: float | None = None
    tie_break: str = "off"
    max_completion_length: int = 1024

    @classmethod
    def from_params(cls, p) -> "Shaping":
        return cls(
            ngram_penalty=getattr(p, "reward_ngram_penalty", 0.0),
            ngram_size=getattr(p, "reward_ngram_size", 4),
            truncated_reward=getattr(p, "truncated_reward", None),
            tie_break=getattr(p, "tie_break", "off"),
            max_completion_length=getattr(p, "max_completion_length", 1024),
        )

    @property
    def active(self) -> bool:
        return self.ngram_penalty > 0 or self.truncated_reward is not None or self.tie_break != "off"


def repeated_ngram_share(tokens, n: int) -> float:
    """Share of the completion's n-grams that repeat an earlier one (0: none, near 1: a loop)."""
    unique, _ = textstats.ngram_stats(tokens, n)
    return 1.0 - unique


def groups_of(row_ids: list[int]) -> list[list[int]]:
    """Indices of the completions that answer the same prompt: TRL puts a prompt's generations
    next to each other, so a group is a run of equal row ids."""
    out: list[list[int]] = []
    for i, r in enumerate(row_ids):
        if out and row_ids[out[-1][-1]] == r:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def shape_rewards(
    scores: list[float], tokens: list, truncated: list[bool], row_ids: list[int], shaping: Shaping
) -> list[float]:
    """The remedies applied to the ARC rewards of one batch (see the module docstring)."""
    out = list(scores)
    if shaping.ngram_penalty > 0:
        out = [s - shaping.ngram_penalty * repeated_ngram_share(t, shaping.ngram_size) for s, t in zip(out, tokens)]
    if shaping.truncated_reward is not None:
        out = [shaping.truncated_reward if tr else s for s, tr in zip(out, truncated)]
    if shaping.tie_break == "shorter":
        limit = max(shaping.max_completion_length, 1)
        for group in groups_of(row_ids):
            if len(group) > 1 and len({out[i] for i in group}) == 1:
                for i in group:
                    out[i] += TIE_BREAK_BONUS * (1.0 - min(len(tokens[i]), limit) / limit)
    return out


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

    def __init__(
        self,
        rows: list[Row],
        sandbox,
        reward_name: str,
        files: RunFiles | None = None,
        sample: float = 1.0,
        seed: int = 0,
        timing: Timing | None = None,
        eos_ids: list[int] | None = None,
        shaping: Shaping | None = None,
        prefix: str | None = None,
    ):
        self.__name__ = "arc_reward"  # TRL names the reward column after the function
        self.rows = rows
        self.sandbox = sandbox
        self.reward_name = reward_name
        self.files = files
        self.sample = sample
        self.rng = random.Random(seed)
        self.timing = timing
        self.eos_ids = set(eos_ids or [])
        self.shaping = shaping or Shaping()
        self.prefix = rewards.ASSISTANT_PREFIX if prefix is None else prefix

    def __call__(
        self, prompts, completions, completion_ids=None, row_id=None, trainer_state=None, log_metric=None, **_
    ) -> list[float]:
        t0 = time.perf_counter()
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
        row_ids = [int(i) for i in row_id]
        rows = [self.rows[i] for i in row_ids]
        results = rewards.score_completions(texts, [r.task for r in rows], self.sandbox, self.reward_name, self.prefix)
        tokens = [
            list(completion_ids[i]) if completion_ids is not None else textstats.words(t) for i, t in enumerate(texts)
        ]
        # Truncated = generation stopped at the length limit, not at EOS (TRL's clipped rule).
        truncated = [bool(ids) and ids[-1] not in self.eos_ids if self.eos_ids else False for ids in tokens]
        scores = [float(r.reward) for r in results]
        if self.shaping.active:
            scores = shape_rewards(scores, tokens, truncated, row_ids, self.shaping)
        if self.timing is not None:
            self.timing.reward += time.perf_counter() - t0
        if self.files is not None:
            step = (trainer_state.global_step + 1) if trainer_state is not None else 0
            self._record(step, texts, tokens, truncated, scores, rows, results, log_metric)
        return scores

    def _record(self, step, texts, tokens, truncated, scores, rows, results, log_metric) -> None:
        records = []
        for i, (text, ids, trunc, score, row, res) in enumerate(zip(texts, tokens, truncated, scores, rows, results)):
            records.append(
                {
                    "id": f"{step}:{i}",
                    "step": step,
                    "task_id": row.task_id,
                    "augmentation": row.augmentation,
                    "reward": round(score, 6),
                    "reward_arc": res.reward,
                    "n_tokens": len(ids),
                    "truncated": trunc,
                    "error": res.error,
                    "solved": res.solved,
                    "pixel_score": round(res.pixel_score, 4),
                    "correct_train": res.correct_train,
                    "correct_test": res.correct_test,
                    "diag": textstats.diagnostics(ids),
                    "outputs": _outputs_for_record(res.outputs, row.augmentation),
                    "completion": text,
                }
            )
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
