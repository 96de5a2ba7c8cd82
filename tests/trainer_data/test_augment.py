"""Augmentations are invertible symmetries + colour permutations (property-style checks)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from trainer.augment import Augmentation, identity, random_augmentation
from trainer.data import load_tasks


def _random_grid(rng: random.Random):
    h, w = rng.randint(1, 30), rng.randint(1, 30)
    return [[rng.randrange(10) for _ in range(w)] for _ in range(h)]


@pytest.mark.parametrize("rng_kind", ["random", "numpy"])
def test_round_trip_over_many_random_augmentations(rng_kind):
    rng = random.Random(0)
    aug_rng = random.Random(1) if rng_kind == "random" else np.random.default_rng(1)
    for _ in range(500):
        grid = _random_grid(rng)
        aug = random_augmentation(aug_rng, all_colors_prob=0.3)
        out = aug.apply_grid(grid)
        assert aug.invert_grid(out) == grid
        # shape: quarter turns swap height and width
        h, w = len(grid), len(grid[0])
        assert (len(out), len(out[0])) == ((h, w) if aug.rot90 % 2 == 0 else (w, h))
        assert all(type(v) is int for row in out for v in row)
        # serialisation survives JSON
        again = Augmentation.from_dict(json.loads(json.dumps(aug.to_dict())))
        assert again == aug and again.apply_grid(grid) == out


def test_zero_is_fixed_unless_all_colours_are_drawn():
    rng = random.Random(3)
    augs = [random_augmentation(rng, all_colors_prob=0.0) for _ in range(300)]
    assert all(a.color_map[0] == 0 for a in augs)
    assert len({tuple(a.color_map) for a in augs}) > 250  # the other colours really are shuffled
    augs = [random_augmentation(rng, all_colors_prob=1.0) for _ in range(300)]
    assert sum(a.color_map[0] != 0 for a in augs) > 200
    # the default probability is small but not zero
    augs = [random_augmentation(rng) for _ in range(2000)]
    moved = sum(a.color_map[0] != 0 for a in augs) / len(augs)
    assert 0.05 < moved < 0.15


def test_all_eight_symmetries_are_drawn_and_distinct():
    grid = [[1, 2, 3], [4, 5, 6]]  # no symmetry: all 8 images differ
    rng = random.Random(5)
    seen = {}
    for _ in range(400):
        a = random_augmentation(rng)
        geo = Augmentation(a.flip, a.rot90)
        seen[(a.flip, a.rot90)] = json.dumps(geo.apply_grid(grid))
    assert len(seen) == 8
    assert len(set(seen.values())) == 8


def test_identity_and_explicit_transforms():
    g = [[1, 2], [3, 4]]
    assert identity().apply_grid(g) == g and identity().is_identity
    assert Augmentation(flip=True).apply_grid(g) == [[2, 1], [4, 3]]
    assert Augmentation(rot90=1).apply_grid(g) == np.rot90(np.array(g)).tolist()
    swap = [0, 2, 1, 3, 4, 5, 6, 7, 8, 9]
    assert Augmentation(color_map=swap).apply_grid(g) == [[2, 1], [3, 4]]
    assert Augmentation(rot90=5).rot90 == 1
    assert len({Augmentation(rot90=1), Augmentation(rot90=5), identity()}) == 2
    with pytest.raises(ValueError, match="permutation"):
        Augmentation(color_map=[0] * 10)


def test_apply_task_on_real_tasks_inverts_every_grid():
    tasks = load_tasks("arc1/train", max_tasks=20)
    pristine = load_tasks("arc1/train", max_tasks=20)
    rng = random.Random(7)
    for task in tasks:
        aug = random_augmentation(rng)
        t2 = aug.apply_task(task)
        assert t2.task_id == task.task_id
        assert len(t2.train) == len(task.train) and len(t2.test) == len(task.test)
        for p, q in zip(task.train + task.test, t2.train + t2.test):
            assert aug.invert_grid(q.input) == p.input
            assert aug.invert_grid(q.output) == p.output
    assert tasks == pristine  # the originals are untouched


def test_augmented_flip_task_is_still_solved_by_the_conjugated_rule():
    # 67a3c6ac: output = input mirrored left-right. After any augmentation, mapping the augmented
    # input back, applying the rule and mapping forward again gives the augmented output.
    task = {t.task_id: t for t in load_tasks("arc1/train")}["67a3c6ac"]
    rng = random.Random(11)
    for _ in range(20):
        aug = random_augmentation(rng)
        t2 = aug.apply_task(task)
        for p in t2.train + t2.test:
            original = np.array(aug.invert_grid(p.input))
            assert aug.apply_grid(np.fliplr(original).tolist()) == p.output


def test_invert_rejects_non_grids():
    with pytest.raises(ValueError):
        identity().invert_grid([[10]])
    with pytest.raises(ValueError):
        identity().invert_grid([1, 2, 3])
