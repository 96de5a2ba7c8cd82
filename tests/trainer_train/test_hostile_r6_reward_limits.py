"""Round 6: reward shaping values that TRL's float32 rewards cannot hold. `truncated_reward = 1e39`
or `reward_ngram_penalty = 1e300` passed render and every spec check (they are finite floats);
in the trainer the shaped reward became inf in TRL's float32 reward tensor (1e20 already makes
the group std inf), so advantages, loss and then the adapter's weights turned NaN without any
error. Both are bounded by jobs.params.REWARD_LIMIT (ARC rewards are -1..10): render refuses them
in one line, and a spec.json edited past it stops the trainer at start, before the model loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from jobs.params import REWARD_LIMIT, GRPOParams
from tests.tiny_params import job_spec

from .helpers import REPO, env, events, run_trainer


def test_the_limit_is_one_trls_float32_rewards_hold():
    """What the bound protects: TRL's own group std (nanstd) of rewards this size stays finite."""
    from trl.trainer.utils import nanstd

    assert torch.isfinite(nanstd(torch.tensor([REWARD_LIMIT, -REWARD_LIMIT] * 8, dtype=torch.float32)))
    assert not torch.isfinite(torch.tensor([1e39], dtype=torch.float32)).all()
    assert not torch.isfinite(nanstd(torch.tensor([1e20, 0.0], dtype=torch.float32)))


@pytest.mark.parametrize(
    "option, says",
    [
        ("truncated_reward=1e39", "-p truncated_reward='1e39': Input should be less than or equal to 1000"),
        ("truncated_reward=-5000", "-p truncated_reward='-5000': Input should be greater than or equal to -1000"),
        ("reward_ngram_penalty=1e300", "-p reward_ngram_penalty='1e300': Input should be less than or equal to 1000"),
    ],
)
def test_render_refuses_a_shaped_reward_float32_cannot_hold(tmp_path, option, says):
    proc = subprocess.run(
        [sys.executable, "-m", "arcctl.cli.main", "render", "grpo", "-p", option],
        cwd=REPO,
        env={**env(), "ARCCTL_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [f"error: {says}"]


def test_a_rollback_that_would_pass_the_limit_is_refused_at_render():
    with pytest.raises(ValueError, match="truncated_reward: Input should be less than or equal to 1000"):
        GRPOParams(model_path="m", dataset="arc1/train", rollback_changes={"truncated_reward": "=1e30"})


def test_the_trainer_refuses_a_spec_edited_past_the_limit_before_the_model_loads(tmp_path):
    run_dir = tmp_path / "run"
    job_spec("grpo", run_dir, {"model_path": str(tmp_path / "no-model"), "dataset": "arc1/train"}).write()
    raw = json.loads((run_dir / "spec.json").read_text())
    raw["params"]["truncated_reward"] = 1e39
    (run_dir / "spec.json").write_text(json.dumps(raw))
    proc = run_trainer("run", str(run_dir), timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"trainer: error: {run_dir / 'spec.json'}: "), lines
    assert "truncated_reward" in lines[0] and "1000" in lines[0]
    assert events(run_dir)[-1]["event"] == "error"
