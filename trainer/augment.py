"""Invertible data augmentation: a flip, quarter turns and a colour permutation.

Flip + 0..3 quarter turns cover all 8 symmetries of the square. Colour 0 (the background in nearly
every ARC task) stays fixed unless the rare "all colours" draw happens. `invert_grid` maps a
prediction made on the augmented task back to the original task's frame.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer.data import Grid, Pair, Task

IDENTITY_COLORS = list(range(10))


@dataclass(frozen=True)
class Augmentation:
    flip: bool = False
    rot90: int = 0
    color_map: list[int] = field(default_factory=lambda: list(IDENTITY_COLORS))

    def __post_init__(self) -> None:
        if sorted(self.color_map) != IDENTITY_COLORS:
            raise ValueError(f"color_map must be a permutation of 0..9, got {self.color_map}")
        object.__setattr__(self, "rot90", int(self.rot90) % 4)
        object.__setattr__(self, "color_map", [int(c) for c in self.color_map])

    def __hash__(self) -> int:  # color_map is a list: hash its tuple so augmentations can key dicts
        return hash((self.flip, self.rot90, tuple(self.color_map)))

    @staticmethod
    def identity() -> "Augmentation":
        return Augmentation()

    @property
    def is_identity(self) -> bool:
        return not self.flip and self.rot90 == 0 and self.color_map == IDENTITY_COLORS

    def apply_grid(self, grid: Grid) -> Grid:
        a = np.asarray(grid, dtype=np.int64)
        if self.flip:
            a = a[:, ::-1]
        a = np.rot90(a, self.rot90)
        return np.asarray(self.color_map, dtype=np.int64)[a].tolist()

    def invert_grid(self, grid: Grid) -> Grid:
        from trainer.grid_scoring import as_grid

        # strict, as scoring is: np.asarray(..., int64) made [[1.5]] or [[True]] a grid of 1s and
        # raised OverflowError (no ValueError) on a cell past 64 bits
        a = as_grid(grid)
        if a is None:
            raise ValueError("invert_grid needs a 2-D grid of integer colours 0..9, sides 1..30")
        inverse = np.argsort(np.asarray(self.color_map))
        a = np.rot90(inverse[a], -self.rot90)
        if self.flip:
            a = a[:, ::-1]
        return a.tolist()

    def apply_task(self, task: Task) -> Task:
        def pair(p: Pair) -> Pair:
            return Pair(self.apply_grid(p.input), None if p.output is None else self.apply_grid(p.output))

        return Task(task.task_id, [pair(p) for p in task.train], [pair(p) for p in task.test])

    def to_dict(self) -> dict[str, Any]:
        return {"flip": self.flip, "rot90": self.rot90, "color_map": list(self.color_map)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Augmentation":
        return cls(
            flip=bool(d.get("flip", False)),
            rot90=int(d.get("rot90", 0)),
            color_map=list(d.get("color_map", IDENTITY_COLORS)),
        )

    def __str__(self) -> str:  # compact label for logs and completions.jsonl
        colors = "".join(map(str, self.color_map))
        return f"flip={int(self.flip)} rot90={self.rot90} colors={colors}"


def identity() -> Augmentation:
    return Augmentation()


def random_augmentation(
    rng: random.Random | np.random.Generator | None = None, all_colors_prob: float = 0.1
) -> Augmentation:
    """A uniformly random symmetry and colour permutation (0 fixed unless all colours are drawn)."""
    rng = rng if rng is not None else random.Random()
    if isinstance(rng, np.random.Generator):
        flip = bool(rng.integers(2))
        rot = int(rng.integers(4))
        permute_all = bool(rng.random() < all_colors_prob)
        perm = [int(c) for c in rng.permutation(10 if permute_all else 9)]
    else:
        flip = bool(rng.randrange(2))
        rot = rng.randrange(4)
        permute_all = rng.random() < all_colors_prob
        perm = list(range(10 if permute_all else 9))
        rng.shuffle(perm)
    color_map = perm if permute_all else [0] + [c + 1 for c in perm]
    return Augmentation(flip, rot, color_map)
