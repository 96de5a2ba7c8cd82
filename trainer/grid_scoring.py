"""Rewards: score a program's output grids against the expected ones, and turn that into a number.

Scores are averaged over every grid with a known answer (train and test), weighted by count: a
task with 4 train pairs and 1 test pair weighs each grid 1/5.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from jobs.errors import SpecError
from trainer.data import MAX_SIDE, Grid, Task
from trainer.extract import extract_program, too_long
from trainer.prompts import ASSISTANT_PREFIX

REWARD_NAMES = ("arc-v0", "arc-v1", "arc-v2-no-pixel-score")


@dataclass(frozen=True)
class GridScore:
    correct: bool
    pixel_score: float


def as_grid(value: Any) -> "np.ndarray | None":
    """`value` as an ARC grid array (2-D, sides 1..30, integer colours 0..9, as the sandbox checks
    a program's output), else None. Scoring anything else gave wrong scores: [[1.0]] and [[True]]
    equalled [[1]], an object array whose cells compare equal to anything matched every cell, and
    a 10^4-wide output made the best-overlap search below slice 10^8 times."""
    if type(value) is np.ndarray:
        arr = value
        if arr.ndim != 2 or arr.dtype.kind not in "iu":
            return None
    elif type(value) in (list, tuple) and 1 <= len(value) <= MAX_SIDE:
        width = len(value[0]) if type(value[0]) in (list, tuple) else 0
        for row in value:  # exact types, as the sandbox: bools, floats, subclasses are no cells
            if type(row) not in (list, tuple) or len(row) != width:
                return None
            if not all(t is int or issubclass(t, np.integer) for t in set(map(type, row))):
                return None
        try:
            arr = np.array(value, dtype=np.int64)
        except OverflowError:  # a cell past 64 bits
            return None
    else:
        return None
    if not (1 <= arr.shape[0] <= MAX_SIDE and 1 <= arr.shape[1] <= MAX_SIDE) or arr.min() < 0 or arr.max() > 9:
        return None
    return arr


def pixel_score(output: Any, expected: Any) -> float:
    """Share of matching cells. Shapes that differ are compared at their best overlap: along each
    axis the shorter grid slides over the longer one, and matches are divided by the area of the
    bounding shape (max height x max width), so a wrong shape never scores 1. Anything that is not
    a grid (as_grid) scores 0."""
    a, b = as_grid(output), as_grid(expected)
    if a is None or b is None:
        return 0.0
    if a.shape == b.shape:
        return float((a == b).mean())
    (ha, wa), (hb, wb) = a.shape, b.shape
    h, w = min(ha, hb), min(wa, wb)
    best = 0
    for dy in range(abs(ha - hb) + 1):
        for dx in range(abs(wa - wb) + 1):
            # slide along each axis independently: offset applies to whichever grid is longer there
            ya, yb = (dy, 0) if ha >= hb else (0, dy)
            xa, xb = (dx, 0) if wa >= wb else (0, dx)
            sa = a[ya : ya + h, xa : xa + w]
            sb = b[yb : yb + h, xb : xb + w]
            best = max(best, int((sa == sb).sum()))
    return best / (max(ha, hb) * max(wa, wb))


def grid_score(output: Any, expected: Grid) -> GridScore:
    a, b = as_grid(output), as_grid(expected)
    if a is None or b is None:
        return GridScore(False, 0.0)
    correct = a.shape == b.shape and bool((a == b).all())
    return GridScore(correct, 1.0 if correct else pixel_score(a, b))


def score_outputs(outputs: Sequence[Grid] | None, expected: Sequence[Grid]) -> dict[str, float]:
    """Compare outputs[i] with expected[i]. No outputs (or the wrong number) scores 0 everywhere."""
    n = len(expected)
    if not isinstance(outputs, (list, tuple)) or len(outputs) != n or n == 0:
        return {"correct_grids": 0.0, "pixel_score": 0.0, "n_correct": 0, "n": n}
    scores = [grid_score(o, e) for o, e in zip(outputs, expected)]
    n_correct = sum(s.correct for s in scores)
    return {
        "correct_grids": n_correct / n,
        "pixel_score": sum(s.pixel_score for s in scores) / n,
        "n_correct": n_correct,
        "n": n,
    }


def reward_value(reward_name: str, score: dict[str, float], valid: bool, error: str | None = None) -> float:
    """arc-v1: 1 + 8*correct + pixel; arc-v2-no-pixel-score: 1 + 9*correct; 0 when not valid.
    arc-v0 is arc-v1 with -1 for code that does not parse (no python block or a syntax error),
    the first scheme of the GRPO runs: it ranks "parses but fails" above "does not parse"."""
    if reward_name not in REWARD_NAMES:
        raise SpecError(f"reward_name {reward_name!r} is unknown; choose one of {', '.join(REWARD_NAMES)}")
    if not valid:
        return -1.0 if reward_name == "arc-v0" and error == "parse" else 0.0
    if reward_name in ("arc-v0", "arc-v1"):
        return 1.0 + 8.0 * score["correct_grids"] + score["pixel_score"]
    return 1.0 + 9.0 * score["correct_grids"]


@dataclass
class RewardResult:
    reward: float
    error: str | None  # None or the sandbox error kind (parse, unsafe, timeout, memory, ...)
    correct_train: float = 0.0
    correct_test: float | None = None  # None when the task's test outputs are unknown
    pixel_score: float = 0.0
    n_correct: int = 0
    n: int = 0
    program: str | None = None
    solved: bool = False
    detail: str = ""
    outputs: list[Grid] | None = None  # train outputs then test outputs, as the program produced them

    def to_dict(self, with_outputs: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_outputs:
            d.pop("outputs")
        return d


def task_inputs(task: Task) -> list[Grid]:
    return [p.input for p in task.train] + [p.input for p in task.test]


def score_task_outputs(
    outputs: list[Grid] | None,
    task: Task,
    reward_name: str,
    error: str | None = None,
    program: str | None = None,
    detail: str = "",
) -> RewardResult:
    """Score the outputs of one program on `task_inputs(task)` (train first, then test)."""
    n_train = len(task.train)
    expected_train = [p.output for p in task.train]
    known_test = [(i, p.output) for i, p in enumerate(task.test) if p.output is not None]
    if error is None and (not isinstance(outputs, (list, tuple)) or len(outputs) != n_train + len(task.test)):
        error, detail = "invalid_output", detail or "wrong number of outputs"
    if error is None:  # the sandbox checked them; any other caller's grids are checked as strictly
        bad = next((i for i, g in enumerate(outputs) if as_grid(g) is None), None)  # type: ignore[arg-type]
        if bad is not None:
            error, detail = "invalid_output", detail or f"output {bad} is not a grid of colours 0..9, sides 1..30"
    if error is not None:
        outputs = None
    train = score_outputs(None if outputs is None else outputs[:n_train], expected_train)  # type: ignore[arg-type]
    test = score_outputs(
        None if outputs is None else [outputs[n_train + i] for i, _ in known_test], [g for _, g in known_test]
    )  # type: ignore[misc]
    n = train["n"] + test["n"]
    n_correct = int(train["n_correct"] + test["n_correct"])
    both = {
        "correct_grids": n_correct / n if n else 0.0,
        "pixel_score": (train["pixel_score"] * train["n"] + test["pixel_score"] * test["n"]) / n if n else 0.0,
    }
    return RewardResult(
        reward=reward_value(reward_name, both, error is None, error),
        error=error,
        correct_train=train["correct_grids"],
        correct_test=test["correct_grids"] if known_test else None,
        pixel_score=both["pixel_score"],
        n_correct=n_correct,
        n=n,
        program=program,
        solved=error is None and n > 0 and n_correct == n,
        detail=detail,
        outputs=outputs,
    )


def score_completions(
    completions: Sequence[str],
    tasks: Sequence[Task],
    sandbox: Any,
    reward_name: str,
    prefix: str | None = ASSISTANT_PREFIX,
) -> list[RewardResult]:
    """Extract, execute (one `run_many` call for the whole batch) and score each completion.

    tasks[i] is the task completion i answers (already augmented if the prompt was); `prefix` is
    the text the prompt pre-filled the assistant turn with (a prompt template's may differ).
    """
    if len(completions) != len(tasks):
        raise ValueError(f"{len(completions)} completions for {len(tasks)} tasks")
    reward_value(reward_name, {}, False)  # fail fast on an unknown name, before running anything
    programs = [extract_program(c, prefix) for c in completions]
    refused = {i: why for i, p in enumerate(programs) if (why := too_long(p))}
    runnable = [i for i, p in enumerate(programs) if p is not None and i not in refused]
    results: dict[int, Any] = {}
    if runnable:
        # one inputs list per distinct task object: the GRPO group of a prompt shares it, and the
        # sandbox sends a shared list to its workers only once
        shared: dict[int, list[Grid]] = {}
        inputs = [shared.setdefault(id(tasks[i]), task_inputs(tasks[i])) for i in runnable]
        execs = sandbox.run_many([programs[i] for i in runnable], inputs)
        results = dict(zip(runnable, execs))
    out = []
    for i, (program, task) in enumerate(zip(programs, tasks)):
        if program is None:
            out.append(
                score_task_outputs(
                    None, task, reward_name, error="parse", program=None, detail="no ```python block in the completion"
                )
            )
            continue
        if i in refused:
            out.append(score_task_outputs(None, task, reward_name, error="parse", program=program, detail=refused[i]))
            continue
        r = results[i]
        out.append(
            score_task_outputs(
                r.outputs, task, reward_name, error=r.error, program=program, detail=getattr(r, "detail", "") or ""
            )
        )
    return out
