"""Hindsight relabelling for HER jobs: score sampled programs on a target task, keep the best ones
(one per distinct set of outputs) and turn each into the task it does solve: the target's inputs
paired with the outputs the program produced.

The search looks at the train pairs only (pixel score, solved); the test pairs are reported, never
used to choose programs. Scoring and execution are trainer.grid_scoring + the sandbox, the same code
GRPO and eval use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from jobs import textstats
from trainer.data import Grid, Pair, Task
from trainer.grid_scoring import score_completions, score_outputs


@dataclass
class Sample:
    """One sampled completion of an epoch, executed and scored on the target."""

    text: str
    n_tokens: int
    truncated: bool
    temperature: float
    program: str | None
    error: str | None
    outputs: list[Grid] | None  # train outputs then test outputs, None when it did not run cleanly
    pixel_score: float  # train pairs only
    solved: bool  # every train pair exactly
    correct_test: float | None  # share of test pairs right; None when test outputs are unknown

    @property
    def valid(self) -> bool:
        return self.outputs is not None


def score_samples(completions: Sequence[Any], temperatures: Sequence[float], task: Task, sandbox: Any) -> list[Sample]:
    """Run every completion's program on the target's train and test inputs (one sandbox batch)."""
    results = score_completions([c.text for c in completions], [task] * len(completions), sandbox, "arc-v1")
    n_train = len(task.train)
    expected = [p.output for p in task.train]
    out = []
    for comp, temp, r in zip(completions, temperatures, results):
        outputs = r.outputs if r.error is None else None
        train = score_outputs(outputs[:n_train] if outputs else None, expected)
        out.append(
            Sample(
                text=comp.text,
                n_tokens=comp.n_tokens,
                truncated=comp.truncated,
                temperature=temp,
                program=r.program,
                error=r.error,
                outputs=outputs,
                pixel_score=train["pixel_score"],
                solved=outputs is not None and train["n_correct"] == n_train,
                correct_test=r.correct_test if outputs is not None else None,
            )
        )
    return out


def _outputs_key(outputs: list[Grid]) -> str:
    return json.dumps(outputs, separators=(",", ":"))


def select(samples: Sequence[Sample], keep: int) -> list[Sample]:
    """The `keep` best valid samples: highest train pixel score first (shorter program on ties),
    at most one per distinct set of outputs (duplicates teach the same relabelled task again)."""
    ranked = sorted((s for s in samples if s.valid), key=lambda s: (-s.pixel_score, s.n_tokens))
    seen: set[str] = set()
    out = []
    for s in ranked:
        key = _outputs_key(s.outputs or [])
        if key in seen:
            continue
        seen.add(key)
        out.append(s)
        if len(out) == keep:
            break
    return out


def relabel(task: Task, sample: Sample) -> Task:
    """The task `sample`'s program solves: the target's inputs with the outputs it produced."""
    if sample.outputs is None:
        raise ValueError("only a program that ran cleanly can be relabelled")
    n_train = len(task.train)
    train = [Pair(p.input, out) for p, out in zip(task.train, sample.outputs[:n_train])]
    test = [Pair(p.input, out) for p, out in zip(task.test, sample.outputs[n_train:])]
    return Task(f"{task.task_id}/relabelled", train, test)


def unique_outputs(samples: Sequence[Sample]) -> int:
    return len({_outputs_key(s.outputs) for s in samples if s.outputs is not None})


def epoch_metrics(samples: Sequence[Sample], kept: Sequence[Sample]) -> dict[str, float | None]:
    """The numbers of one epoch (metrics.jsonl `her/` names). Mean pixel score is over the
    programs that ran; a best program's test score is reported, not used to pick it."""
    valid = [s for s in samples if s.valid]
    best = max(valid, key=lambda s: (s.solved, s.pixel_score), default=None)
    return {
        "her/samples": len(samples),
        # programs that parse (they may still fail), and programs that drew a grid for every input
        "her/valid_code": sum(s.error != "parse" for s in samples) / len(samples) if samples else 0.0,
        "her/valid_outputs": len(valid) / len(samples) if samples else 0.0,
        "her/best_pixel_score": best.pixel_score if best else 0.0,
        "her/mean_pixel_score": textstats.mean([s.pixel_score for s in valid]) or 0.0,
        "her/solved": float(any(s.solved for s in samples)),
        "her/best_test_correct": best.correct_test if best else None,
        "her/unique_outputs": unique_outputs(samples),
        "her/programs_trained": len(kept),
        "her/truncated_ratio": sum(s.truncated for s in samples) / len(samples) if samples else 0.0,
    }


def completion_rows(kept: Sequence[Sample], step: int, task_id: str, epoch: int) -> list[dict[str, Any]]:
    """completions.jsonl lines for an epoch's best programs, best first (`rank` 0)."""
    return [
        {
            "step": step,
            "task_id": task_id,
            "epoch": epoch,
            "rank": i,
            "completion": s.text,
            "program": s.program,
            "reward": s.pixel_score,
            "pixel_score": s.pixel_score,
            "solved": s.solved,
            "correct_test": s.correct_test,
            "temperature": s.temperature,
            "n_tokens": s.n_tokens,
            "truncated": s.truncated,
            "error": s.error,
            "diag": textstats.text_diagnostics(s.text),
        }
        for i, s in enumerate(kept)
    ]
