"""The GRPO reward function on real ARC tasks with the real sandbox: each completion is scored
against its row's (augmented) task, recorded in completions.jsonl and aggregated into arc/ metrics."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from jobs import rundir
from trainer import data, encoders, grpo_data
from trainer.grpo_reward import ArcReward, Timing
from trainer.telemetry import RunFiles

from .helpers import EOS, FLIP_LR, FLIP_UD

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def env(tiny_model_dir):
    from transformers import AutoTokenizer

    from trainer.sandbox import Sandbox

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    mirror = next(t for t in data.load_tasks("arc1/train") if t.task_id == "67a3c6ac")  # mirror left-right
    with Sandbox(workers=2, timeout_s=2.0, memory_mb=512) as sb:
        yield SimpleNamespace(tok=tok, task=mirror, sandbox=sb)


def _call(reward, rows_idx, texts, truncated, step=4):
    got = []
    ids = [[5, 6, 7] if t else [5, 6, EOS] for t in truncated]
    scores = reward(
        prompts=["p"] * len(texts),
        completions=texts,
        completion_ids=ids,
        row_id=rows_idx,
        trainer_state=SimpleNamespace(global_step=step),
        log_metric=lambda n, v: got.append((n, v)),
    )
    return scores, dict(got)


def test_scores_against_the_plain_task(env, tmp_path):
    rows = grpo_data.PromptRows([env.task], 1, encoders.get_encoder("digits"), env.tok, seed=0, augment=False)
    files = RunFiles(tmp_path, enabled=True)
    timing = Timing()
    reward = ArcReward(rows, env.sandbox, "arc-v2-no-pixel-score", files=files, timing=timing, eos_ids=[EOS])
    scores, metrics = _call(reward, [0, 0, 0], [FLIP_LR, FLIP_UD, "no code here"], [False, False, True])
    files.close()
    assert scores[0] == 10.0 and 1.0 <= scores[1] < 10.0 and scores[2] == 0.0
    recs = rundir.read_jsonl(tmp_path / rundir.COMPLETIONS)
    assert [r["step"] for r in recs] == [5, 5, 5]  # trained in step global_step + 1
    assert [r["solved"] for r in recs] == [True, False, False]
    assert [r["truncated"] for r in recs] == [False, False, True]
    assert recs[2]["error"] == "parse" and recs[0]["error"] is None
    assert recs[0]["task_id"] == "67a3c6ac" and recs[0]["augmentation"] is None
    assert metrics["arc/solved_ratio"] == pytest.approx(1 / 3)
    assert metrics["arc/reward_max"] == 10.0 and metrics["arc/truncated_ratio"] == pytest.approx(1 / 3)
    assert metrics["arc/error_parse"] == pytest.approx(1 / 3)
    assert metrics["arc/untruncated_reward_mean"] == pytest.approx((scores[0] + scores[1]) / 2)
    assert timing.reward > 0


def test_scores_against_the_augmented_task(env):
    rows = grpo_data.PromptRows([env.task], 64, encoders.get_encoder("digits"), env.tok, seed=0, augment=True)
    # a quarter turn without flip: the left-right mirror becomes an up-down mirror in the prompt's frame
    i = next(i for i in range(64) if rows[i].augmentation["rot90"] == 1 and not rows[i].augmentation["flip"])
    reward = ArcReward(rows, env.sandbox, "arc-v2-no-pixel-score", files=None, eos_ids=[EOS])
    scores, metrics = _call(reward, [i, i], [FLIP_LR, FLIP_UD], [False, False])
    assert scores[1] == 10.0 and scores[0] < 10.0
    assert metrics == {}  # telemetry off: nothing computed or logged


def test_completions_sample(env, tmp_path):
    rows = grpo_data.PromptRows([env.task], 1, encoders.get_encoder("digits"), env.tok, seed=0, augment=False)
    files = RunFiles(tmp_path, enabled=True)
    reward = ArcReward(rows, env.sandbox, "arc-v2-no-pixel-score", files=files, sample=0.25, seed=1, eos_ids=[EOS])
    _call(reward, [0] * 40, ["x"] * 40, [True] * 40)
    files.close()
    n = len(rundir.read_jsonl(tmp_path / rundir.COMPLETIONS))
    assert 0 < n < 25
