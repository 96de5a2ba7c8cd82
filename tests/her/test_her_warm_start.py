"""The HER warm start's drawing tasks: blank canvas -> squares or lines, each program drawing the
picture it is paired with, in the toy targets' format, and never a toy target itself."""

from __future__ import annotations


import numpy as np
import pytest

from jobs.her_targets import TOY_LADDER
from tests.trainer_data.test_synthetic import _run
from trainer import program_library as common
from trainer.synthetic import drawing_tasks, toy_targets, warm_start_tasks


def _shapes(picture: np.ndarray) -> int:
    return len(common.find_connected_components(picture, monochromatic=False))


def test_drawing_programs_draw_their_pictures_in_reading_order():
    items = drawing_tasks(300, seed=0)
    kinds = set()
    for task, program in items:
        kind = "squares" if " square" in program else program.split(" line")[0].rsplit(" ", 1)[1]
        kinds.add(kind)
        # the targets' format: one train pair, the test asks for the same picture
        assert len(task.train) == len(task.test) == 1 and task.test[0] == task.train[0]
        blank, picture = np.array(task.train[0].input), np.array(task.train[0].output)
        assert not blank.any() and picture.any() and max(picture.shape) <= 30
        assert _run(program, task.train[0].input) == task.train[0].output, program
        draws = [line for line in program.splitlines() if line.startswith("    output_grid[")]
        # one statement per shape, shapes never touch, top-left corners in reading order
        assert len(draws) == _shapes(picture)
        corners = [tuple(int(v.split(":")[0] or 0) for v in line[16:].split("]")[0].split(", ")) for line in draws]
        assert corners == sorted(corners), program
    assert kinds == {"squares", "vertical", "horizontal"}


def test_no_drawing_task_is_a_toy_target():
    """Neither the ladder's counts nor any count's target canvas: the warm start shows the
    family, HER has to find the targets."""
    items = drawing_tasks(800, seed=1)
    ladder = {(int(n), kind) for n, _, kind in (t.partition("-") for t in TOY_LADDER)}
    for task, program in items:
        picture = np.array(task.train[0].output)
        n = _shapes(picture)
        kind = "squares" if " square" in program else "vertical-lines" if "vertical" in program else "horizontal-lines"
        assert (n, kind) not in ladder, program
        target = toy_targets([f"{n}-{kind}"], seed=0)[0] if n <= (40 if kind == "squares" else 14) else None
        assert target is None or np.array(target.train[0].output).shape != picture.shape, program


def test_warm_start_mix_is_deterministic_and_bounded():
    mix = warm_start_tasks(40, seed=3, drawing_share=0.25, max_side=8)
    assert len(mix) == 40 and sum(t.task_id.endswith("-drawing") for t, _ in mix) == 10
    assert mix == warm_start_tasks(40, seed=3, drawing_share=0.25, max_side=8)
    assert all(max(len(t.train[0].output), len(t.train[0].output[0])) <= 8 for t, _ in mix if "drawing" in t.task_id)
    assert len({t.task_id for t, _ in mix}) == 40
    with pytest.raises(ValueError, match="max_side 2"):
        drawing_tasks(1, max_side=2)
