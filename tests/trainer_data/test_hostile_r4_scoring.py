"""Grid scoring of whatever a caller hands it (round 4): wrong shapes, types and dtypes, NaN, huge
ints, object arrays, nested lists of mixed depth. Each scores 0 or is an `invalid_output`, never a
raise into the trainer and never a wrong score.

Holes these found: [[1.0]] and [[True]] scored as a correct [[1]]; an object array whose cells
compare equal to anything was a perfect grid; a 10^4 x 10^4 output made the best-overlap search
slice 10^8 times; outputs that were no list raised TypeError; `invert_grid` turned [[1.5]] into
[[1]] and raised OverflowError (which eval's inversion does not catch) on a cell past 64 bits."""

from __future__ import annotations

import time

import numpy as np
import pytest

from trainer.augment import Augmentation
from trainer.data import load_tasks
from trainer.grid_scoring import GridScore, grid_score, pixel_score, score_outputs, score_task_outputs

pytestmark = pytest.mark.timeout(60)


class EqualsAnything:
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


ONE = [[1, 1], [1, 1]]

NOT_GRIDS = {
    "floats": [[1.0, 1.0], [1.0, 1.0]],
    "float_array": np.ones((2, 2)),
    "bools": [[True, True], [True, True]],
    "bool_array": np.ones((2, 2), dtype=bool),
    "nan": np.full((2, 2), np.nan),
    "object_array": np.array([[EqualsAnything()] * 2] * 2, dtype=object),
    "object_ints": np.array([[1, 1], [1, 1]], dtype=object),
    "huge_int": [[1, 1], [1, 10**30]],
    "uint64_max": np.full((2, 2), np.iinfo(np.uint64).max, dtype=np.uint64),
    "negative": [[1, 1], [1, -1]],
    "colour_10": [[1, 1], [1, 10]],
    "strings": [["1", "1"], ["1", "1"]],
    "mixed_depth": [[1, 1], [1, [1]]],
    "ragged": [[1, 1], [1]],
    "three_d": [ONE],
    "flat": [1, 1, 1, 1],
    "empty": [],
    "empty_rows": [[], []],
    "none": None,
    "number": 7,
    "text": "1111",
    "dict": {0: [1, 1], 1: [1, 1]},
    "int_subclass_rows": [[np.bool_(True), 1], [1, 1]],
}


@pytest.mark.parametrize("name", sorted(NOT_GRIDS))
def test_what_is_not_a_grid_scores_zero(name):
    value = NOT_GRIDS[name]
    assert grid_score(value, ONE) == GridScore(False, 0.0)
    assert pixel_score(value, ONE) == 0.0
    assert pixel_score(ONE, value) == 0.0


def test_real_grids_in_every_plain_spelling_still_score():
    for value in (ONE, ((1, 1), (1, 1)), np.ones((2, 2), dtype=np.int64), np.ones((2, 2), dtype=np.uint8)):
        assert grid_score(value, ONE) == GridScore(True, 1.0)
    assert grid_score([[1, 0], [1, 1]], ONE) == GridScore(False, 0.75)
    assert grid_score([[np.int64(1), 1], [1, 1]], ONE) == GridScore(True, 1.0)


def test_a_huge_output_is_refused_at_once():
    huge = np.zeros((10_000, 10_000), dtype=np.uint8)
    t0 = time.perf_counter()
    assert pixel_score(huge, [[0]]) == 0.0
    assert grid_score(huge, [[0]]) == GridScore(False, 0.0)
    assert time.perf_counter() - t0 < 1.0  # 10^8 overlap slices before


@pytest.mark.parametrize("outputs", [7, "grids", {"a": 1}, np.ones((3, 2, 2), dtype=np.int64)])
def test_outputs_that_are_no_list_score_zero(outputs):
    assert score_outputs(outputs, [ONE, ONE, ONE]) == {"correct_grids": 0.0, "pixel_score": 0.0, "n_correct": 0, "n": 3}


@pytest.fixture(scope="module")
def task():
    return load_tasks("arc1/train", 1)[0]  # a real ARC task, its test output known


@pytest.mark.parametrize("name", ["floats", "bools", "object_array", "huge_int", "mixed_depth", "nan"])
def test_a_program_output_that_is_no_grid_is_an_invalid_output_not_a_score(task, name):
    answers = [p.output for p in task.train + task.test]
    good = score_task_outputs(answers, task, "arc-v1")
    assert good.solved and good.reward == 10.0
    # the right answers, one spelled as something that only compares equal to them
    bad = np.asarray(answers[0], dtype=object if name == "object_array" else None)
    bad = {
        "floats": bad.astype(float),
        "bools": bad.astype(bool),
        "object_array": np.array([[EqualsAnything()] * len(answers[0][0])] * len(answers[0]), dtype=object),
        "huge_int": [row[:-1] + [10**30] for row in answers[0]],
        "mixed_depth": [answers[0][0], [answers[0][1]]] + answers[0][2:],
        "nan": np.full(np.shape(answers[0]), np.nan),
    }[name]
    r = score_task_outputs([bad] + answers[1:], task, "arc-v1")
    assert (r.error, r.reward, r.solved, r.outputs) == ("invalid_output", 0.0, False, None)
    assert r.detail == "output 0 is not a grid of colours 0..9, sides 1..30"
    r = score_task_outputs(7, task, "arc-v1")  # type: ignore[arg-type]
    assert (r.error, r.reward, r.detail) == ("invalid_output", 0.0, "wrong number of outputs")


@pytest.mark.parametrize("name", ["floats", "bools", "huge_int", "uint64_max", "object_ints", "strings", "mixed_depth"])
def test_invert_grid_refuses_what_is_not_a_grid_with_a_value_error(name):
    aug = Augmentation(flip=True, rot90=1, color_map=[0, 2, 1, 3, 4, 5, 6, 7, 8, 9])
    with pytest.raises(ValueError, match="^invert_grid needs a 2-D grid of integer colours 0..9, sides 1..30$"):
        aug.invert_grid(NOT_GRIDS[name])
    assert aug.invert_grid(aug.apply_grid([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
