"""A GRPO job whose dataset has prompts longer than max_seq_length - max_completion_length drops those
tasks with a warning event that names them; the event must be a valid run-dir record, or the job
stops at that point with an error instead of training on the tasks that fit."""

from __future__ import annotations

import json

import pytest

from jobs import rundir
from jobs.params import GRPOParams
from trainer import data, encoders, grpo_data, lifecycle, prompts
from trainer.runfiles import RunFiles

pytestmark = pytest.mark.timeout(120)


def test_dropped_tasks_warning_is_a_valid_event(tmp_path, tiny_model_dir, small_dataset):
    from transformers import AutoTokenizer

    from tests.trainer_train.helpers import grpo_spec

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tasks = data.load_tasks(str(small_dataset))
    enc = encoders.get_encoder("digits")
    lengths = sorted(len(tok(prompts.BUILT_IN.text(t, enc, tok, 0, None))["input_ids"]) for t in tasks)
    # room for the shortest prompt only: the two others are dropped
    p = GRPOParams(model_path="m", dataset=str(small_dataset), max_completion_length=8, max_seq_length=lengths[0] + 8)
    run_dir = tmp_path / "run"
    spec = grpo_spec(run_dir, tiny_model_dir, dataset=str(small_dataset))
    warn = lifecycle.prepare_run_dir(spec, run_dir, RunFiles(run_dir, enabled=True))
    kept = grpo_data.fit_tasks(tasks, p, enc, tok, warn)
    assert len(kept) == 1
    events = [json.loads(line) for line in (run_dir / rundir.EVENTS).read_text().splitlines()]
    (warning,) = [e for e in events if e["event"] == "warning"]
    assert "2 of 3 tasks dropped" in warning["message"]
    assert sorted(warning["tasks"]) == sorted(t.task_id for t in tasks if t not in kept)
