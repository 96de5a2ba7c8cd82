"""Prompt rows: a fresh augmentation per visit of a task, reproducible from the row id alone."""

from __future__ import annotations

import pytest

from jobs.params import GRPOParams
from trainer import augment, data, encoders, grpo_data

pytestmark = pytest.mark.timeout(120)


def _params(**kw):
    return GRPOParams(model_path="m", dataset="arc1/train", **kw)


def test_plan_rows():
    # 10 tasks, 100 epochs with augmentation: 100 blocks of fresh rows, one Trainer pass
    assert grpo_data.plan_rows(10, _params(epochs=100), 1) == (1000, 1.0)
    assert grpo_data.plan_rows(10, _params(epochs=2.5), 1) == (30, pytest.approx(2.5 / 3))
    assert grpo_data.plan_rows(10, _params(epochs=3, use_data_augmentation=False), 1) == (10, 3)
    # max_steps: enough rows for every step's prompts in one pass
    assert grpo_data.plan_rows(10, _params(max_steps=25), 2) == (50, 1.0)


def test_rows_are_reproducible_and_answer_the_augmented_task(tiny_model_dir, small_dataset):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tasks = data.load_tasks(str(small_dataset))
    enc = encoders.get_encoder("digits")
    rows = grpo_data.PromptRows(tasks, 12, enc, tok, seed=5, augment=True, cache=2)
    again = grpo_data.PromptRows(tasks, 12, enc, tok, seed=5, augment=True)
    for i in range(12):
        r = rows[i]
        assert r.task_id == tasks[i % 3].task_id
        assert (r.augmentation, rows.prompt(i)) == (again[i].augmentation, again.prompt(i))
        # the row's task is the original seen through its augmentation, and maps back exactly
        aug = augment.Augmentation.from_dict(r.augmentation)
        orig = tasks[i % 3]
        assert r.task.train[0].input == aug.apply_grid(orig.train[0].input)
        assert aug.invert_grid(r.task.test[0].output) == orig.test[0].output
        assert enc.encode(r.task.test[0].input) in rows.prompt(i)
    # visits of one task get different augmentations
    assert len({str(rows[i].augmentation) for i in (0, 3, 6, 9)}) > 1
    ds = rows.as_dataset()
    assert len(ds) == 12 and ds[4]["row_id"] == 4 and ds[4]["prompt"] == rows.prompt(4)
    with pytest.raises(IndexError):
        rows.get(12)


def test_prompts_too_long_are_dropped_with_a_warning(tiny_model_dir, small_dataset):
    from transformers import AutoTokenizer

    from jobs.errors import SpecError

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tasks = data.load_tasks(str(small_dataset))
    enc = encoders.get_encoder("digits")
    warnings = []
    p = _params(max_seq_length=64, max_completion_length=32)
    with pytest.raises(SpecError, match="max_seq_length"):
        grpo_data.fit_tasks(tasks, p, enc, tok, lambda m, **f: warnings.append(m))
    assert warnings and "3 of 3 tasks dropped" in warnings[0]
    kept = grpo_data.fit_tasks(
        tasks, _params(max_seq_length=8192, max_completion_length=32), enc, tok, lambda m, **f: warnings.append(m)
    )
    assert len(kept) == 3
