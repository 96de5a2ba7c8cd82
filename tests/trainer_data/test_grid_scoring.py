"""Rewards: pixel scores, reward formulas, and hand-written programs on real ARC tasks executed in
the real sandbox."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.errors import JobsError
from trainer.data import Pair, Task, load_tasks
from trainer.extract import open_block_code
from trainer.prompts import ASSISTANT_PREFIX
from trainer.grid_scoring import (
    RewardResult,
    pixel_score,
    reward_value,
    score_completions,
    score_outputs,
    score_task_outputs,
    task_inputs,
)

# --- pixel score and grid scoring -------------------------------------------------------------


def test_pixel_score_same_shape():
    assert pixel_score([[1, 2], [3, 4]], [[1, 2], [3, 4]]) == 1.0
    assert pixel_score([[1, 2], [3, 0]], [[1, 2], [3, 4]]) == 0.75
    assert pixel_score(np.array([[0]]), [[1]]) == 0.0


def test_pixel_score_different_shapes_uses_best_overlap():
    # smaller in one axis: slides down the taller grid; divided by the bounding area 2x3
    assert pixel_score([[4, 5, 6]], [[1, 2, 3], [4, 5, 6]]) == pytest.approx(3 / 6)
    # symmetric in its arguments
    assert pixel_score([[1, 2, 3], [4, 5, 6]], [[4, 5, 6]]) == pytest.approx(3 / 6)
    # smaller in both axes: best placement at offset (1, 1)
    assert pixel_score([[0, 1, 2]], [[9, 9, 9, 9], [9, 0, 1, 2]]) == pytest.approx(3 / 8)
    # crossed shapes (1x3 vs 3x1): one cell overlaps at a time, bounding area 3x3
    assert pixel_score([[5, 6, 7]], [[7], [0], [0]]) == pytest.approx(1 / 9)
    assert pixel_score([[5, 6, 8]], [[7], [0], [0]]) == 0.0
    # a wrong shape never scores 1
    assert pixel_score([[1, 1]], [[1, 1, 1]]) < 1.0


def test_pixel_score_of_non_grids_is_zero():
    assert pixel_score([1, 2, 3], [[1, 2, 3]]) == 0.0
    assert pixel_score([[1, 2], [3]], [[1, 2], [3, 4]]) == 0.0
    assert pixel_score([], [[1]]) == 0.0


def test_score_outputs():
    expected = [[[1, 2]], [[3]], [[4, 4]]]
    s = score_outputs([[[1, 2]], [[0]], [[4, 0]]], expected)
    assert s["n_correct"] == 1 and s["n"] == 3
    assert s["correct_grids"] == pytest.approx(1 / 3)
    assert s["pixel_score"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert score_outputs(None, expected)["correct_grids"] == 0.0
    assert score_outputs([[[1, 2]]], expected)["pixel_score"] == 0.0  # wrong count scores nothing


def test_reward_formulas():
    score = {"correct_grids": 0.5, "pixel_score": 0.75}
    assert reward_value("arc-v1", score, True) == pytest.approx(1 + 4 + 0.75)
    assert reward_value("arc-v2-no-pixel-score", score, True) == pytest.approx(1 + 4.5)
    assert reward_value("arc-v1", score, False) == 0.0
    assert reward_value("arc-v2-no-pixel-score", score, False) == 0.0
    perfect = {"correct_grids": 1.0, "pixel_score": 1.0}
    assert reward_value("arc-v1", perfect, True) == reward_value("arc-v2-no-pixel-score", perfect, True) == 10.0
    with pytest.raises(
        JobsError, match="reward_name 'arc-v3' is unknown; choose one of arc-v0, arc-v1, arc-v2-no-pixel-score"
    ):
        reward_value("arc-v3", score, True)


def test_scores_are_weighted_over_train_and_test_grids():
    task = Task("t", [Pair([[1]], [[2]]), Pair([[1]], [[2]]), Pair([[1]], [[2]])], [Pair([[1]], [[3]])])
    r = score_task_outputs([[[2]], [[2]], [[2]], [[2]]], task, "arc-v2-no-pixel-score")
    assert (r.correct_train, r.correct_test, r.n_correct, r.n) == (1.0, 0.0, 3, 4)
    assert r.reward == pytest.approx(1 + 9 * 3 / 4) and not r.solved
    # unknown test outputs are not scored
    task.test[0].output = None
    r = score_task_outputs([[[2]], [[2]], [[2]], [[7]]], task, "arc-v1")
    assert r.correct_test is None and r.n == 3 and r.solved and r.reward == 10.0
    # missing outputs for some inputs is an invalid output
    r = score_task_outputs([[[2]]], task, "arc-v1")
    assert r.error == "invalid_output" and r.reward == 0.0


# --- hand-written programs on real ARC tasks, executed in the sandbox -------------------------

HEAD = open_block_code(ASSISTANT_PREFIX)


def continuation(body: str) -> str:
    """A completion as the model would write it after the pre-filled prefix."""
    return f"\n# test\n\ndef transform(input_grid):\n{body}\n```\nDone."


FLIP_OK = continuation("    return np.fliplr(input_grid)")
FLIP_WRONG = continuation("    return np.flipud(input_grid)")
COLOR_OK = continuation(
    "    mapping = {3: 4, 1: 5, 2: 6, 8: 9, 5: 1, 6: 2, 4: 3, 9: 8}\n"
    "    out = input_grid.copy()\n"
    "    for a, b in mapping.items():\n"
    "        out[input_grid == a] = b\n"
    "    return out"
)
COLOR_HALF = continuation(  # knows only some of the pairs
    "    out = input_grid.copy()\n"
    "    out[input_grid == 3] = Color.YELLOW\n"
    "    out[input_grid == 1] = Color.GRAY\n"
    "    out[input_grid == 2] = Color.PINK\n"
    "    return out"
)
IDENTITY = continuation("    return input_grid")
RAISES = continuation("    raise ValueError('nope')")
SYNTAX = continuation("    return input_grid[")
NOT_A_GRID = continuation("    return 42")
WRONG_SHAPE = continuation("    return np.fliplr(input_grid)[:1]")
NO_CODE = "```\nI am not sure what to do."  # closes the block immediately: header only, no transform


@pytest.fixture(scope="module")
def real_tasks():
    tasks = {t.task_id: t for t in load_tasks("arc1/train")}
    return tasks["67a3c6ac"], tasks["0d3d703e"]  # mirror left-right; fixed colour map


@pytest.fixture(scope="module")
def sandbox():
    mod = pytest.importorskip("trainer.sandbox")
    with mod.Sandbox(workers=2, timeout_s=2.0, memory_mb=512) as sb:
        yield sb


class CountingSandbox:
    """The real sandbox, counting run_many calls (to check the batch goes in one call)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def run_many(self, programs, inputs):
        self.calls.append((list(programs), list(inputs)))
        return self.inner.run_many(programs, inputs)


def _expected(task, fn):
    outs = [fn(np.array(g)).tolist() for g in task_inputs(task)]
    exp = [p.output for p in task.train + task.test]
    return score_outputs(outs, exp)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("reward_name", ["arc-v1", "arc-v2-no-pixel-score"])
def test_hand_written_programs_on_real_tasks(sandbox, real_tasks, reward_name):
    flip, cmap = real_tasks
    cases = [
        (FLIP_OK, flip),
        (FLIP_WRONG, flip),
        (IDENTITY, flip),
        (WRONG_SHAPE, flip),
        (COLOR_OK, cmap),
        (COLOR_HALF, cmap),
        (IDENTITY, cmap),
        (RAISES, cmap),
        (SYNTAX, flip),
        (NOT_A_GRID, flip),
        (NO_CODE, cmap),
        ("no code at all", flip),
        ("", cmap),
    ]
    counting = CountingSandbox(sandbox)
    results = score_completions([c for c, _ in cases], [t for _, t in cases], counting, reward_name)
    assert len(counting.calls) == 1  # one batch for the whole step
    # the empty completion never reaches the sandbox
    assert len(counting.calls[0][0]) == len(cases) - 1
    assert counting.calls[0][1][0] == task_inputs(flip)
    assert counting.calls[0][1][0] is counting.calls[0][1][1]  # same task: one shared inputs list
    assert all(isinstance(r, RewardResult) for r in results)
    by = dict(
        zip(
            [
                "flip_ok",
                "flip_wrong",
                "flip_id",
                "flip_shape",
                "color_ok",
                "color_half",
                "color_id",
                "raises",
                "syntax",
                "not_grid",
                "header_only",
                "prose",
                "empty",
            ],
            results,
        )
    )

    for key in ("flip_ok", "color_ok"):
        r = by[key]
        assert r.error is None and r.solved and r.reward == 10.0
        assert (r.correct_train, r.correct_test, r.pixel_score) == (1.0, 1.0, 1.0)
        assert r.program.startswith(HEAD) and "def transform" in r.program

    def check_partial(r, task, fn):
        exp = _expected(task, fn)
        assert r.error is None and not r.solved
        assert r.n_correct == exp["n_correct"] and r.n == exp["n"]
        assert r.pixel_score == pytest.approx(exp["pixel_score"])
        want = (
            1 + 8 * exp["correct_grids"] + exp["pixel_score"]
            if reward_name == "arc-v1"
            else 1 + 9 * exp["correct_grids"]
        )
        assert r.reward == pytest.approx(want)
        return exp

    exp = check_partial(by["flip_wrong"], flip, np.flipud)
    assert 0 < exp["pixel_score"] < 1
    exp = check_partial(by["color_half"], cmap, lambda g: np.select([g == 3, g == 1, g == 2], [4, 5, 6], g))
    assert 0 < exp["pixel_score"] < 1
    exp = check_partial(by["color_id"], cmap, lambda g: g)
    assert exp["pixel_score"] == 0 and by["color_id"].reward == 1.0  # valid but every cell wrong
    check_partial(by["flip_id"], flip, lambda g: g)
    exp = check_partial(by["flip_shape"], flip, lambda g: np.fliplr(g)[:1])
    assert 0 < exp["pixel_score"] < 1  # the first row matches: best overlap of a wrong shape

    assert by["raises"].error == "exception" and by["raises"].reward == 0.0
    assert by["syntax"].error == "parse" and by["syntax"].reward == 0.0
    assert by["not_grid"].error == "invalid_output" and by["not_grid"].reward == 0.0
    assert by["header_only"].error is not None and by["header_only"].reward == 0.0
    # prose after the pre-filled opening is still inside the python block: it fails to parse
    assert by["prose"].error == "parse" and by["prose"].reward == 0.0
    assert by["empty"].error == "parse" and by["empty"].program is None and by["empty"].reward == 0.0
    for r in results:
        d = r.to_dict()
        assert "outputs" not in d and set(d) >= {
            "reward",
            "error",
            "correct_train",
            "correct_test",
            "pixel_score",
            "n_correct",
            "program",
            "solved",
        }


@pytest.mark.timeout(120)
def test_augmented_real_task_is_scored_in_its_augmented_frame(sandbox, real_tasks):
    import random

    from trainer.augment import random_augmentation

    _, cmap = real_tasks
    aug = random_augmentation(random.Random(2), all_colors_prob=0.0)
    seen = aug.apply_task(cmap)
    # the original-frame solution is wrong on the augmented task unless it is conjugated
    results = score_completions([COLOR_OK], [seen], sandbox, "arc-v2-no-pixel-score")
    assert not results[0].solved
    mapping = {3: 4, 1: 5, 2: 6, 8: 9, 5: 1, 6: 2, 4: 3, 9: 8}
    conj = {aug.color_map[a]: aug.color_map[b] for a, b in mapping.items()}
    body = (
        "    out = input_grid.copy()\n"
        f"    for a, b in {conj!r}.items():\n"
        "        out[input_grid == a] = b\n"
        "    return out"
    )
    r = score_completions([continuation(body)], [seen], sandbox, "arc-v2-no-pixel-score")[0]
    assert r.solved and r.reward == 10.0


def test_unknown_reward_fails_before_running_anything(real_tasks):
    flip, _ = real_tasks

    class Refuses:
        def run_many(self, *a):
            raise AssertionError("must not run")

    with pytest.raises(JobsError, match="reward_name"):
        score_completions([FLIP_OK], [flip], Refuses(), "arc-v9")
    with pytest.raises(ValueError, match="1 completions for 2 tasks"):
        score_completions([FLIP_OK], [flip, flip], Refuses(), "arc-v1")
