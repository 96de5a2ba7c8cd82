"""Round 5: GRPO rows of a task with thin grids (1x30). fit_tasks measures the prompt as the task
is; a quarter turn puts every cell on its own line and about doubles it (375 -> 789 tokens with
the tiny model's tokenizer), so augmented rows went past `max_seq_length - max_completion_length`
(vLLM refuses such a prompt mid-run; the sequence outgrows the memory planned for). Every row's
prompt now fits: one whose augmentation would not is shown as the task is."""

from __future__ import annotations

import json

import pytest

from .helpers import grpo_spec

pytestmark = pytest.mark.timeout(120)


def test_every_augmented_row_of_a_thin_task_fits_the_prompt_limit(tmp_path, tiny_model_dir):
    from trainer import encoders, grpo
    from trainer.data import Task, load_tasks

    row = [[1, 2, 3, 4, 5, 6, 7, 8, 9] * 3 + [1, 2, 3]]
    task = {"train": [{"input": row, "output": row}] * 3, "test": [{"input": row}]}
    data = tmp_path / "thin_challenges.json"
    data.write_text(json.dumps({"thin": task}))
    [thin] = load_tasks(str(data))
    assert isinstance(thin, Task)

    from transformers import AutoTokenizer

    from trainer.prompts import BUILT_IN

    spec = grpo_spec(tmp_path / "run", tiny_model_dir, dataset=str(data), max_tasks=None, max_steps=16)
    p = spec.typed_params()
    tok = AutoTokenizer.from_pretrained(p.model_path)
    plain = len(
        tok(BUILT_IN.text(thin, encoders.get_encoder(p.grid_encoder), tok), add_special_tokens=False)["input_ids"]
    )
    p = p.model_copy(update={"max_seq_length": plain + plain // 3 + p.max_completion_length})
    limit = p.max_seq_length - p.max_completion_length

    setup = grpo.setup_training(p, tmp_path / "run", lambda m, **f: None)
    assert len(setup.tasks) == 1 and len(setup.rows) >= 16
    lengths = [len(tok(setup.rows.prompt(i), add_special_tokens=False)["input_ids"]) for i in range(len(setup.rows))]
    assert max(lengths) <= limit, (max(lengths), limit)
    # the rows that fit keep their augmentation (half turns keep a 1x30 grid one line)
    kept = [setup.rows[i].augmentation for i in range(len(setup.rows))]
    assert any(a is not None for a in kept) and any(a is None for a in kept)
    # the reward rebuilds a row from its id: the same task and augmentation every time
    again = grpo.setup_training(p, tmp_path / "run", lambda m, **f: None).rows
    assert [again[i].augmentation for i in range(len(again))] == kept
