"""HER sampling through the generation backends (trainer/fast_generation.py), CPU, the project's tiny
model: a HER job with a non-default `generation_backend` runs its epochs (sampling, fine-tuning,
sampling the fine-tuned adapter again), the sampler follows the adapter as it is fine-tuned (a
merged copy is re-merged), runs with the KV cache while the model trains with gradient
checkpointing, keeps each group's temperature and seed, and a bad backend is one error at render."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import get_args

import pytest

from jobs.params import GRPOParams, HERParams

REPO = Path(__file__).resolve().parents[2]


def test_her_takes_the_grpo_generation_backends():
    her = get_args(HERParams.model_fields["generation_backend"].annotation)
    grpo = get_args(GRPOParams.model_fields["generation_backend"].annotation)
    assert her == grpo
    assert HERParams.model_fields["generation_backend"].default == "auto"
    fast_generation = pytest.importorskip("trainer.fast_generation")
    assert her == fast_generation.BACKENDS


def _her_params(**over) -> HERParams:
    return HERParams(model_path="m", **over)


def test_auto_resolves_like_grpo():
    from trainer import fast_generation

    assert fast_generation.resolve(_her_params(), cuda=False) == "trl"
    assert fast_generation.resolve(_her_params(), cuda=True) == "merged-cudagraph"
    assert fast_generation.resolve(_her_params(use_dora=True), cuda=True) == "static"
    assert fast_generation.resolve(_her_params(generation_backend="merged"), cuda=False) == "merged"


# --- on the model --------------------------------------------------------------------------------

torch_needed = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("trl") is None, reason="needs the training stack"
)


def _peft_model(tiny_model_dir):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    torch.manual_seed(0)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "up_proj"])
    model = get_peft_model(model, cfg)
    for name, p in model.named_parameters():  # a trained-looking adapter: B is zero at init
        if "lora_B" in name:
            p.data.normal_(0, 0.05)
    return model, tok


def _fine_tune_step(model):
    """What an epoch's fine-tuning leaves: the model in training mode, gradient checkpointing on,
    the KV cache off, and the adapter moved (in place, as the optimizer moves it)."""
    import torch

    model.train()
    model.gradient_checkpointing_enable()
    model.config.use_cache = False
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.add_(torch.randn_like(p) * 0.2)


@torch_needed
@pytest.mark.parametrize("backend", ["merged", "merged-cudagraph", "static", "paged"])
def test_her_sampler_follows_the_fine_tuned_adapter(tiny_model_dir, backend):
    from trainer import her
    from trainer.generation import TransformersGenerator

    model, tok = _peft_model(tiny_model_dir)
    p = _her_params(sampling=[{"n": 2, "temperature": 0.0}, {"n": 3, "temperature": 1.0}], max_new_tokens=10)
    plain = TransformersGenerator.for_model(model, tok, batch_size=4)
    fast = TransformersGenerator.for_model(model, tok, batch_size=4, backend=backend)
    assert fast.fast is not None and fast.fast.backend == backend
    prompt = "def transform(grid):"
    greedy_by_epoch = []
    for epoch in range(2):
        _fine_tune_step(model)
        comps, temps = her.sample(fast, prompt, p, seed=epoch)
        # checkpointing was off for the call and is back for the next fine-tuning
        assert model.is_gradient_checkpointing and not model.training
        assert temps == [0.0, 0.0, 1.0, 1.0, 1.0] and len(comps) == 5
        assert all(0 < c.n_tokens <= 10 for c in comps)
        # the greedy group is what the adapter as it is now writes (a stale merged copy would not be)
        want, _ = her.sample(plain, prompt, _her_params(sampling=[{"n": 2, "temperature": 0.0}], max_new_tokens=10), 0)
        assert [c.text for c in comps[:2]] == [c.text for c in want]
        greedy_by_epoch.append(comps[0].text)
        # same seed, same weights: the same programs, the sampled group included
        again, _ = her.sample(fast, prompt, p, seed=epoch)
        assert [c.text for c in again] == [c.text for c in comps]
    assert greedy_by_epoch[0] != greedy_by_epoch[1]  # the fine-tuning moved what the sampler writes


@torch_needed
def test_temperature_is_per_group(tiny_model_dir):
    from trainer.generation import TransformersGenerator

    model, tok = _peft_model(tiny_model_dir)
    model.eval()
    gen = TransformersGenerator.for_model(model, tok, batch_size=8, backend="merged-cudagraph")
    hot = gen.generate(["def transform(grid):"] * 8, 10, temperature=5.0, seed=0)
    cold = gen.generate(["def transform(grid):"] * 8, 10, temperature=0.0, seed=0)
    assert len({c.text for c in cold}) == 1 and len({c.text for c in hot}) > 1
    # the settings of one group do not leak into the next: greedy again after the hot group
    assert gen.generate(["def transform(grid):"] * 8, 10, temperature=0.0, seed=3)[0].text == cold[0].text


@pytest.fixture(scope="module")
def warm_model(tiny_model_dir, tmp_path_factory) -> Path:
    """The HER tests' warm-started model (tests/her/conftest.py): some sampled programs run, so
    epochs fine-tune and the next epoch samples the fine-tuned adapter."""
    from tests.her.conftest import _warm

    cache = os.environ.get("ARCCTL_TEST_CACHE")
    return _warm(tiny_model_dir, Path(cache) if cache else tmp_path_factory.mktemp("her-warm"))


@torch_needed
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_her_job_with_a_fast_backend_runs_two_epochs(tmp_path, warm_model):
    from jobs.rundir import read_jsonl
    from jobs.spec import JobSpec
    from trainer import her

    run = tmp_path / "her"
    params = dict(model_path=str(warm_model), dataset="toy", task_ids=["2-squares"], grid_encoder="digits", seed=0)
    params.update(sampling=[{"n": 2, "temperature": 0.1}, {"n": 16, "temperature": 1.0}], her_epochs=2)
    params.update(keep_programs=4, max_new_tokens=80, max_seq_length=2048, batch_size=18)
    params.update(learning_rate=1e-3, per_device_train_batch_size=2, lora_r=8, lora_alpha=16)
    params.update(n_jobs=1, sandbox_timeout_s=2.0, generation_backend="merged-cudagraph")
    spec = JobSpec(kind="her", name="her", template="her", params=params, run_dir=str(run))
    spec.write()
    assert her.main(spec) == 0, (run / "events.jsonl").read_text() if (run / "events.jsonl").exists() else ""

    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    started = [e for e in events if "started" in (e.get("event"), e.get("type"))]
    assert started and started[0]["generation_backend"] == "merged-cudagraph"
    rows = read_jsonl(run / "metrics.jsonl")
    assert [r["her/epoch"] for r in rows] == [1, 2]
    assert all(r["her/samples"] == 18 and r["her/time_sampling"] > 0 for r in rows)
    comps = read_jsonl(run / "completions.jsonl")
    assert {c["epoch"] for c in comps} == {1, 2} and all(c["program"] for c in comps)
    # programs ran and were fine-tuned on, and the epoch after sampled the fine-tuned adapter
    assert rows[0]["her/programs_trained"] > 0 and rows[0]["her/train_loss"] is not None
    assert any("def transform" in c["program"] for c in comps if c["epoch"] == 2)


@torch_needed
def test_reserve_sizes_the_decode_cache_once_for_every_target(tiny_model_dir):
    """HER knows all its prompts up front: the longest one sizes the static cache, so a later
    (longer) target reuses the cache and its compiled step instead of growing it (a recompile)."""
    from trainer.generation import TransformersGenerator

    model, tok = _peft_model(tiny_model_dir)
    model.eval()
    long_prompt = " ".join(["Black Red"] * 600)
    n_long = len(tok(long_prompt, add_special_tokens=False)["input_ids"])
    assert n_long > 1024
    gen = TransformersGenerator.for_model(model, tok, batch_size=2, backend="merged-cudagraph")
    gen.reserve(n_long, 4)
    gen.generate(["def transform(grid):"] * 2, 4, temperature=0.0)
    loop = gen.fast.loop
    cache, length = loop.cache, loop.shape[1]
    assert length >= n_long + 4
    gen.generate([long_prompt] * 2, 4, temperature=0.0)
    assert gen.fast.loop is loop and loop.cache is cache and loop.shape[1] == length
