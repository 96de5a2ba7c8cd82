"""Every GRPO template parameter reaches TRL's GRPOConfig / PEFT's LoraConfig under its real name."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.params import GRPOParams
from trainer import grpo, model_loading

pytestmark = pytest.mark.timeout(120)


def test_grpo_config_carries_every_training_parameter(tmp_path):
    schedule = dict(learning_rate=3e-5, lr_scheduler_type="cosine", warmup_ratio=0.1)
    length = dict(epochs=2, max_steps=7, beta=0.05, max_grad_norm=0.3)
    sampling = dict(repetition_penalty=1.05, temperature=0.7, top_p=0.9, max_completion_length=99)
    loss = dict(scale_rewards="batch", loss_type="grpo", mask_truncated_completions=True)
    batches = dict(num_generations=4, per_device_train_batch_size=4, gradient_accumulation_steps=3)
    saving = dict(save_steps=11, logging_steps=2, seed=13)
    p = GRPOParams(model_path="m", dataset="d", **schedule, **length, **sampling, **loss, **batches, **saving)
    c = grpo.grpo_config(p, tmp_path, bf16=False)
    assert (c.learning_rate, str(c.lr_scheduler_type.value), c.warmup_steps) == (3e-5, "cosine", 0.1)
    assert (c.num_train_epochs, c.max_steps, c.beta, c.max_grad_norm) == (2, 7, 0.05, 0.3)
    assert (c.repetition_penalty, c.temperature, c.top_p) == (1.05, 0.7, 0.9)
    assert (c.scale_rewards, c.loss_type, c.mask_truncated_completions) == ("batch", "grpo", True)
    assert (c.num_generations, c.max_completion_length) == (4, 99)
    assert (c.per_device_train_batch_size, c.gradient_accumulation_steps) == (4, 3)
    assert c.generation_batch_size == 12  # one generation per optimizer step: 3 prompts x 4 completions
    assert (c.save_steps, c.logging_steps, c.seed, c.bf16) == (11, 2, 13, False)
    assert c.output_dir == str(tmp_path) and c.save_only_model is False and c.use_vllm is False
    vllm = GRPOParams(
        model_path="m", dataset="d", use_vllm=True, vllm_mode="server", gpu_memory_utilization=0.5, max_seq_length=5000
    )
    v = grpo.grpo_config(vllm, tmp_path, bf16=False)
    assert (v.use_vllm, v.vllm_mode, v.vllm_gpu_memory_utilization, v.vllm_max_model_length) == (
        True,
        "server",
        0.5,
        5000,
    )


def test_lora_config():
    lora = dict(lora_r=8, lora_alpha=64, lora_dropout=0.05, use_rslora=True, use_dora=True)
    p = GRPOParams(model_path="m", dataset="d", lora_target_modules=["q_proj", "v_proj"], **lora)
    c = model_loading.lora_config(p)
    assert (c.r, c.lora_alpha, c.lora_dropout, c.use_rslora, c.use_dora) == (8, 64, 0.05, True, True)
    assert set(c.target_modules) == {"q_proj", "v_proj"} and c.task_type == "CAUSAL_LM"


def test_pad_token_fixed_when_it_equals_eos(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.pad_token = tok.eos_token
    assert model_loading.fix_pad_token(tok) != "kept"
    assert tok.pad_token_id is not None and tok.pad_token_id != tok.eos_token_id
    assert model_loading.fix_pad_token(tok) == "kept"


def test_checkpoint_step_parsing():
    from jobs.rundir import checkpoint_step

    assert checkpoint_step(str(Path("/r/checkpoint-40"))) == 40 and checkpoint_step("checkpoint-7/") == 7
    assert checkpoint_step(None) is None and checkpoint_step("/r/final") is None
    assert checkpoint_step("checkpoint-4x") is None
