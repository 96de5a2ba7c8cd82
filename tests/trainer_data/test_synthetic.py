"""Synthetic warm-start tasks: every emitted program really solves its task."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from trainer import program_library as common
from trainer.data import validate_grid
from trainer.encoders import get_encoder
from trainer.extract import extract_program
from trainer.prompts import ASSISTANT_PREFIX, build_messages
from trainer.synthetic import FAMILIES, PROGRAM_HEAD, generate_tasks, sft_example


def _run(program: str, grid):
    """Execute a program the way the sandbox does: `common` importable, transform(np.array)."""
    saved = sys.modules.get("common")
    sys.modules["common"] = common
    try:
        ns: dict = {"__name__": "program"}
        exec(compile(program, "<program>", "exec"), ns)
        return np.asarray(ns["transform"](np.array(grid))).tolist()
    finally:
        if saved is None:
            sys.modules.pop("common", None)
        else:
            sys.modules["common"] = saved


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_programs_solve_their_tasks(seed):
    items = generate_tasks(60, seed)
    assert len(items) == 60
    families = set()
    for task, program in items:
        families.add(task.task_id.rsplit("-", 1)[1])
        assert 3 <= len(task.train) <= 4 and len(task.test) == 1
        for i, pair in enumerate(task.train + task.test):
            validate_grid(pair.input, f"{task.task_id} input {i}")
            validate_grid(pair.output, f"{task.task_id} output {i}")
            assert _run(program, pair.input) == pair.output, (task.task_id, program)
        # the rule is not the identity on any pair
        assert all(p.input != p.output for p in task.train + task.test)
    assert families == set(FAMILIES)


def test_generation_is_deterministic_per_seed():
    a = generate_tasks(20, seed=5)
    b = generate_tasks(20, seed=5)
    c = generate_tasks(20, seed=6)
    assert a == b
    assert a != c
    assert len({t.task_id for t, _ in generate_tasks(200, 0)}) == 200


def test_sft_example_matches_the_prompt_format():
    task, program = generate_tasks(3, seed=0)[2]
    enc = get_encoder("color_names")
    msgs = sft_example(task, program, enc)
    assert msgs[:2] == build_messages(task, enc)
    assert msgs[2]["role"] == "assistant"
    answer = msgs[2]["content"]
    assert answer.startswith(ASSISTANT_PREFIX) and answer.rstrip().endswith("```")
    # what the model would generate after the pre-filled prefix extracts back to the program
    assert extract_program(answer[len(ASSISTANT_PREFIX) :]) == program
    assert program.startswith(PROGRAM_HEAD) and "def transform(input_grid):" in program
    with pytest.raises(ValueError):
        sft_example(task, "def transform(g):\n    return g\n", enc)


@pytest.mark.timeout(180)
def test_sft_answers_are_solved_in_the_sandbox():
    """End to end: the SFT answer text, cut after the pre-filled prefix as the model would emit it,
    extracted, executed in the real sandbox with our `common`, scores full reward."""
    sandbox_mod = pytest.importorskip("trainer.sandbox")
    from trainer.grid_scoring import score_completions

    items = generate_tasks(48, seed=3)
    enc = get_encoder("digits")
    completions = [sft_example(t, p, enc)[-1]["content"][len(ASSISTANT_PREFIX) :] for t, p in items]
    with sandbox_mod.Sandbox(workers=2, timeout_s=5.0, memory_mb=512) as sb:
        results = score_completions(completions, [t for t, _ in items], sb, "arc-v1")
    bad = [(t.task_id, r.error, r.detail) for (t, _), r in zip(items, results) if not r.solved]
    assert not bad
    assert all(r.reward == 10.0 for r in results)


@pytest.mark.timeout(120)
def test_listed_real_tasks_are_within_reach_of_the_families():
    from trainer.data import load_tasks
    from trainer.synthetic import ARC1_TRAIN_IN_REACH

    programs = {}
    for _, p in generate_tasks(3000, 0):
        programs.setdefault(p.split("def transform")[1], p)
    tasks = {t.task_id: t for t in load_tasks("arc1/train")}
    for tid in ARC1_TRAIN_IN_REACH:
        task = tasks[tid]
        grids = task.train + task.test

        def solves(program):
            try:
                return all(_run(program, p.input) == p.output for p in grids)
            except Exception:
                return False

        assert any(solves(p) for p in programs.values()), tid
