"""Fixtures of the trainer tests: a Kaggle-format file of real ARC tasks with small grids (short
prompts keep a CPU GRPO step well under a second on the tiny model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def small_arc_tasks(max_side: int = 5, n: int = 3) -> dict[str, dict]:
    from trainer import data

    picked = {}
    for task in data.load_tasks("arc1/train"):
        grids = [g for p in task.train + task.test for g in (p.input, p.output) if g is not None]
        if len(task.train) <= 3 and all(len(g) <= max_side and len(g[0]) <= max_side for g in grids):
            picked[task.task_id] = task
        if len(picked) == n:
            break
    return picked


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    tasks = small_arc_tasks()
    assert len(tasks) == 3
    root = tmp_path_factory.mktemp("arc-small")
    challenges = {
        tid: {
            "train": [{"input": p.input, "output": p.output} for p in t.train],
            "test": [{"input": p.input} for p in t.test],
        }
        for tid, t in tasks.items()
    }
    solutions = {tid: [p.output for p in t.test] for tid, t in tasks.items()}
    (root / "small_challenges.json").write_text(json.dumps(challenges))
    (root / "small_solutions.json").write_text(json.dumps(solutions))
    return root / "small_challenges.json"


@pytest.fixture
def small_grpo_spec(tiny_model_dir, small_dataset):
    """`grpo_spec` for the tiny model on the small-grid tasks: called with a run dir and the test's params."""
    from tests.trainer_train.helpers import grpo_spec

    return lambda run_dir, **params: grpo_spec(run_dir, tiny_model_dir, dataset=str(small_dataset), **params)
