"""GRPO prompt rows: which task, under which augmentation, built lazily.

Runs of many epochs over hundreds of tasks want a fresh augmentation at every visit of a task, but
materialising every prompt (tens of thousands of 30 KB texts) would take gigabytes. A row is
therefore just an index: task = tasks[i % n], augmentation drawn from a generator seeded by
(seed, i). The prompt is rendered when the dataloader asks for it, identically every time, so
the `num_generations` copies TRL makes of one row see the same grids, the reward function can
rebuild the same augmented task from the row id, and a resumed run sees the same data.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from typing import Any

from jobs.errors import SpecError
from trainer.grpo_reward import Row


class PromptRows:
    """Row i -> Row(task_id, augmentation, augmented task) and its prompt text, cached (LRU)."""

    def __init__(
        self,
        tasks: list,
        n_rows: int,
        encoder,
        tokenizer,
        seed: int,
        augment: bool,
        cache: int = 4096,
        prompter=None,
        attempts: list | None = None,
        max_prompt_tokens: int | None = None,
    ):
        """`attempts` (refine jobs): row i answers attempts[i % n], an earlier program for the task
        of the same index in `tasks`, shown with its feedback; never augmented (the program and its
        outputs are in the task's own frame). `max_prompt_tokens`: an augmented prompt longer than
        this is shown un-augmented instead (see _build)."""
        from trainer import prompts

        self.tasks = tasks
        self.prompter = prompter or prompts.BUILT_IN
        self.attempts = attempts
        if attempts is not None and len(attempts) != len(tasks):
            raise ValueError(f"{len(attempts)} attempts for {len(tasks)} tasks")
        self.n_rows = n_rows
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.seed = seed
        self.augment = augment
        self.max_prompt_tokens = max_prompt_tokens
        self._cache: OrderedDict[int, tuple[Row, str]] = OrderedDict()
        self._cache_size = cache

    def __len__(self) -> int:
        return self.n_rows

    def _build(self, i: int) -> tuple[Row, str]:
        from trainer import augment

        task = self.tasks[i % len(self.tasks)]
        if self.attempts is not None:
            attempt = self.attempts[i % len(self.tasks)]
            text = self.prompter.text(task, self.encoder, self.tokenizer, attempt.test_index, attempt)
            return Row(task.task_id, None, task), text
        aug = augment.random_augmentation(random.Random(f"{self.seed}:{i}")) if self.augment else None
        seen = aug.apply_task(task) if aug is not None else task
        text = self.prompter.text(seen, self.encoder, self.tokenizer)
        if aug is not None and self.max_prompt_tokens is not None and self._tokens(text) > self.max_prompt_tokens:
            # A quarter turn of thin grids (1xN -> Nx1: a line per cell) or a colour map onto longer
            # names can double a prompt that fit_tasks measured as fitting; past the limit vLLM
            # refuses it and the sequence outgrows max_seq_length. The task as it is fits.
            aug, seen = None, task
            text = self.prompter.text(task, self.encoder, self.tokenizer)
        return Row(task.task_id, aug.to_dict() if aug is not None else None, seen), text

    def _tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def get(self, i: int) -> tuple[Row, str]:
        i = int(i)
        if not 0 <= i < self.n_rows:
            raise IndexError(f"row {i} of {self.n_rows}")
        hit = self._cache.get(i)
        if hit is None:
            hit = self._cache[i] = self._build(i)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(i)
        return hit

    def __getitem__(self, i: int) -> Row:
        return self.get(i)[0]

    def prompt(self, i: int) -> str:
        return self.get(i)[1]

    def as_dataset(self):
        """A `datasets.Dataset` of row ids whose `prompt` column is rendered on access."""
        from datasets import Dataset

        def render(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
            ids = [int(i) for i in batch["row_id"]]
            return {"prompt": [self.prompt(i) for i in ids], "row_id": ids}

        return Dataset.from_dict({"row_id": list(range(self.n_rows))}).with_transform(render)


def fit_tasks(tasks: list, p, encoder, tokenizer, warn, prompter=None, attempts: list | None = None):
    """Tasks whose prompt leaves room for `max_completion_length` within `max_seq_length`
    (with `attempts`: (tasks, attempts), the pairs that fit).

    Measured on the un-augmented prompt; a row whose augmentation makes it longer than the limit
    is shown un-augmented (PromptRows)."""
    from trainer import prompts

    prompter = prompter or prompts.BUILT_IN
    limit = p.max_seq_length - p.max_completion_length
    if limit <= 0:
        raise SpecError(
            f"max_seq_length ({p.max_seq_length}) must exceed max_completion_length ({p.max_completion_length})"
        )
    kept, dropped, kept_attempts = [], [], []
    for j, task in enumerate(tasks):
        attempt = attempts[j] if attempts is not None else None
        text = prompter.text(task, encoder, tokenizer, attempt.test_index if attempt else 0, attempt)
        n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        (kept if n <= limit else dropped).append(task)
        if n <= limit and attempt is not None:
            kept_attempts.append(attempt)
    if dropped:
        warn(
            f"{len(dropped)} of {len(tasks)} tasks dropped: prompt longer than max_seq_length - "
            f"max_completion_length = {limit} tokens",
            tasks=[t.task_id for t in dropped[:50]],
        )
    if not kept:
        raise SpecError(
            f"dataset {p.dataset!r}: every prompt is longer than {limit} tokens "
            f"(raise max_seq_length or lower max_completion_length)"
        )
    return (kept, kept_attempts) if attempts is not None else kept


def plan_rows(n_tasks: int, p, prompts_per_step: int, augment: bool | None = None) -> tuple[int, float]:
    """(number of rows, num_train_epochs for the Trainer).

    With augmentation, every pass over the tasks is its own block of rows (fresh augmentations),
    and the Trainer makes a single pass (or the fraction `epochs` asks for); without it, rows are
    the tasks and the Trainer repeats them."""
    if not (p.use_data_augmentation if augment is None else augment):
        return n_tasks, p.epochs
    if p.max_steps > 0:
        passes = max(1, math.ceil(p.max_steps * prompts_per_step / n_tasks))
        return n_tasks * passes, 1.0
    passes = max(1, math.ceil(p.epochs))
    return n_tasks * passes, p.epochs / passes
