"""Per-completion statistics and their aggregation into arc/ metrics (pure functions)."""

from __future__ import annotations

import pytest

from jobs import textstats
from trainer.telemetry import completion_metrics


def test_repetition_statistics():
    looped = "in a pattern " * 10
    d = textstats.text_diagnostics(looped)
    assert d["ngram3_repeat_max"] == 10 and d["ngram4_repeat_max"] == 9
    assert d["unique_token_ratio"] == pytest.approx(3 / 30, abs=1e-4)
    assert d["ngram3_unique_ratio"] == pytest.approx(3 / 28, abs=1e-4)  # rounded to 4 places
    fresh = textstats.diagnostics(list(range(20)))
    assert fresh == {
        "unique_token_ratio": 1.0,
        "ngram3_unique_ratio": 1.0,
        "ngram3_repeat_max": 1,
        "ngram4_unique_ratio": 1.0,
        "ngram4_repeat_max": 1,
    }
    assert textstats.ngram_stats([1, 2], 3) == (1.0, 0)


def _row(reward, truncated, error=None, solved=False, tokens=(1, 2, 3, 4, 5)):
    return {
        "reward": reward,
        "truncated": truncated,
        "error": error,
        "solved": solved,
        "diag": textstats.diagnostics(list(tokens)),
    }


def test_completion_metrics_split_truncated():
    rows = [
        _row(10.0, False, solved=True),
        _row(1.0, False),
        _row(0.0, True, "timeout", tokens=[7] * 8),
        _row(0.0, True, "parse", tokens=[7] * 8),
    ]
    m = completion_metrics(rows)
    assert m["arc/reward_max"] == 10 and m["arc/reward_min"] == 0
    assert m["arc/truncated_ratio"] == 0.5 and m["arc/solved_ratio"] == 0.25
    assert m["arc/untruncated_reward_mean"] == 5.5 and m["arc/truncated_reward_max"] == 0
    assert m["arc/truncated_ngram3_repeat_max"] == 6 and m["arc/untruncated_ngram3_repeat_max"] == 1
    assert m["arc/truncated_unique_token_ratio"] == pytest.approx(1 / 8, abs=1e-4)
    assert m["arc/error_timeout"] == 0.25 and m["arc/error_parse"] == 0.25 and m["arc/error_none"] == 0.5
    assert m["arc/error_memory"] == 0.0
    only_untruncated = completion_metrics([_row(1.0, False)])
    assert only_untruncated["arc/truncated_reward_mean"] is None


def test_step_lines_with_train_runtime_are_metrics_and_only_the_summary_is_not(tmp_path):
    """With include_num_input_tokens_seen, Trainer.log adds speed_metrics('train', ...) —
    train_runtime included — to every step's line; those must still reach metrics.jsonl."""
    import time

    from transformers import TrainerControl, TrainerState
    from transformers.trainer_utils import speed_metrics

    from jobs.rundir import read_jsonl
    from trainer.telemetry import RunFiles, TelemetryCallback

    files = RunFiles(tmp_path, enabled=True)
    cb = TelemetryCallback(files)
    state, control = TrainerState(), TrainerControl()
    start = time.time() - 2
    for step in (1, 2):
        state.global_step = step
        logs = {
            "loss": 1.0 / step,
            "grad_norm": 0.5,
            "learning_rate": 1e-4,
            "epoch": step / 2,
            "num_input_tokens_seen": 100 * step,
            **speed_metrics("train", start, num_tokens=100 * step),
        }
        assert "train_runtime" in logs  # what this test is about
        cb.on_log(None, state, control, logs=logs)
    summary = {
        "train_loss": 0.75,
        "epoch": 1.0,
        **speed_metrics("train", start, num_samples=8, num_steps=2),
        "total_flos": 123.0,
    }
    cb.on_log(None, state, control, logs=summary)
    files.close()

    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2] and [r["loss"] for r in rows] == [1.0, 0.5]
    assert rows[1]["train_tokens_per_second"] > 0 and rows[1]["num_input_tokens_seen"] == 200
    assert cb.summary["train_loss"] == 0.75 and cb.summary["total_flos"] == 123.0
    assert "loss" not in cb.summary
