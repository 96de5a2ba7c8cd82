"""The vLLM paths that cannot run here (vLLM is not installed) built from the same functions the
trainer calls: the remedies' penalties reach TRL's vLLM sampling, and every prompt gets a seed of
its own (one seed for all made identical samples of identical prompts)."""

from __future__ import annotations

import pytest

from jobs import trl_args
from jobs.params import GRPOParams
from trainer.generation import vllm_requests

BASE = dict(model_path="m", dataset="arc1/train")


def _config(tmp_path, **params):
    from trl import GRPOConfig

    return GRPOConfig(**trl_args.grpo_args(GRPOParams(**BASE, **params), tmp_path, bf16=False))


def test_penalties_reach_trls_vllm_sampling(tmp_path):
    cfg = _config(tmp_path, use_vllm=True, frequency_penalty=0.5, presence_penalty=0.25)
    assert cfg.use_vllm and cfg.generation_kwargs == {"frequency_penalty": 0.5, "presence_penalty": 0.25}
    # without vLLM they go through the trainer's logits processor instead; generate only guards NaN
    cfg = _config(tmp_path, frequency_penalty=0.5, presence_penalty=0.25)
    assert not cfg.use_vllm and cfg.generation_kwargs == {"remove_invalid_values": True}


def test_every_prompt_gets_its_own_seed_and_the_penalties():
    reqs = vllm_requests(4, 64, temperature=0.9, top_p=1.0, seed=7, penalties=(0.5, 0.1))
    assert [r["seed"] for r in reqs] == [7, 8, 9, 10]
    assert all(r["frequency_penalty"] == 0.5 and r["presence_penalty"] == 0.1 and r["n"] == 1 for r in reqs)
    given = vllm_requests(3, 64, 0.9, 1.0, seed=0, seeds=[11, 5, 99])
    assert [r["seed"] for r in given] == [11, 5, 99]
    with pytest.raises(ValueError, match="2 seeds for 3 prompts"):
        vllm_requests(3, 64, 0.9, 1.0, seed=0, seeds=[1, 2])
