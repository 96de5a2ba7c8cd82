"""Generation backends (trainer/fast_generation.py) on the tiny model, CPU: the merged copy samples
from the same policy as the PEFT model, generation never changes the training weights, the KV cache
stays on while gradient checkpointing is on, and each backend trains a real GRPO step."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from jobs.params import GRPOParams  # noqa: E402
from tests.tiny_params import job_spec, tiny_grpo_params  # noqa: E402
from trainer import fast_generation  # noqa: E402

# the real GRPO steps below: two small tasks, one optimizer step per batch, a small adapter
ONE_STEP_A_BATCH = dict(max_tasks=2, gradient_accumulation_steps=1, lora_r=4)


def _peft_model(tiny_model_dir, r=4):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    cfg = LoraConfig(
        r=r, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    model = get_peft_model(model, cfg)
    torch.manual_seed(0)
    for name, p in model.named_parameters():  # a trained-looking adapter: B is zero at init
        if "lora_B" in name:
            p.data.normal_(0, 0.05)
    return model, tok


def _prompt_ids(tok, n=3):
    texts = ["def transform(grid):", "import numpy as np\n\ndef main(", "# rotate the grid\n"]
    return [tok(t, add_special_tokens=False)["input_ids"] for t in texts[:n]]


def test_merged_copy_gives_the_adapters_logits_and_leaves_training_weights_alone(tiny_model_dir):
    model, tok = _peft_model(tiny_model_dir)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    copy = fast_generation.MergedCopy(model)
    copy.refresh()
    ids = torch.tensor([_prompt_ids(tok, 1)[0]])
    with torch.no_grad():
        want = model(input_ids=ids).logits
        got = copy.model(input_ids=ids).logits
    assert torch.allclose(want, got, atol=1e-4), (want - got).abs().max()
    # the adapter moves: a refresh follows it, and the base weights never change
    for name, p in model.named_parameters():
        if "lora_A" in name:
            p.data.add_(0.1)
    copy.refresh()
    with torch.no_grad():
        want2 = model(input_ids=ids).logits
        got2 = copy.model(input_ids=ids).logits
    assert not torch.allclose(want, want2, atol=1e-3)
    assert torch.allclose(want2, got2, atol=1e-4)
    for name, p in model.named_parameters():
        if "lora_" not in name:
            assert torch.equal(p, before[name]), name
    # the copy shares the frozen weights instead of duplicating them
    emb = model.get_base_model().model.embed_tokens.weight
    assert copy.model.model.embed_tokens.weight.data_ptr() == emb.data_ptr()


@pytest.mark.parametrize(
    "backend, penalty",
    [("merged", 1.0), ("static", 1.0), ("merged-static", 1.0), ("merged-cudagraph", 1.0), ("merged-cudagraph", 1.3)],
)
def test_fast_backends_sample_like_trl_greedy(tiny_model_dir, backend, penalty):
    from transformers import GenerationConfig

    model, tok = _peft_model(tiny_model_dir)
    cfg = GenerationConfig(
        max_new_tokens=12,
        do_sample=False,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        repetition_penalty=penalty,
    )
    prompts = _prompt_ids(tok)
    gen = fast_generation.FastGenerator(backend, tok, cfg)
    gen.generate(model, [list(range(5, 400))] * 3)  # a longer prompt first: later calls reuse its cache
    cache = gen.loop.cache if gen.loop else None
    ours = gen.generate(model, prompts)
    if gen.loop:
        assert gen.loop.cache is cache
    for p, got in zip(prompts, ours):
        with torch.no_grad():
            ref = model.generate(input_ids=torch.tensor([p]), generation_config=cfg)[0, len(p) :].tolist()
        if tok.eos_token_id in ref:
            ref = ref[: ref.index(tok.eos_token_id) + 1]
        assert got == ref
        assert 0 < len(got) <= 12


def test_own_decode_loop_honours_min_new_tokens_and_falls_back_for_what_it_lacks(tiny_model_dir):
    from transformers import GenerationConfig

    model, tok = _peft_model(tiny_model_dir)
    eos = tok.eos_token_id
    cfg = GenerationConfig(
        max_new_tokens=10,
        min_new_tokens=10,
        do_sample=True,
        temperature=1.0,
        pad_token_id=tok.pad_token_id,
        eos_token_id=eos,
    )
    torch.manual_seed(0)
    gen = fast_generation.FastGenerator("merged-cudagraph", tok, cfg)
    assert gen.loop is not None
    out = gen.generate(model, _prompt_ids(tok) * 4)
    assert all(len(x) == 10 and eos not in x for x in out)
    assert len({tuple(x) for x in out}) > 1  # sampling, not one sequence copied
    cfg.min_p = 0.1
    fallback = fast_generation.FastGenerator("merged-cudagraph", tok, cfg)
    assert fallback.loop is None and fallback.backend == "merged-static"


def test_kv_cache_stays_on_while_gradient_checkpointing_trains(tmp_path, tiny_model_dir):
    """A real GRPO step with gradient checkpointing on: every decoded token after the prompt enters
    the first decoder layer alone (a KV cache), not with the whole sequence."""
    from trainer import grpo

    lengths: list[int] = []
    params = tiny_grpo_params(tiny_model_dir, max_steps=1, max_completion_length=6, use_data_augmentation=False)
    p = GRPOParams(**params, **ONE_STEP_A_BATCH, generation_backend="trl")
    setup = grpo.setup_training(p, tmp_path, lambda *a, **k: None)
    assert setup.args.gradient_checkpointing
    from trainer.grpo_reward import Timing

    def reward(completions, **kw):
        return [0.0] * len(completions)

    reward.__name__ = "zero"
    trainer = grpo.build_trainer(setup, reward, [], Timing(), p.learning_rate)
    layer = trainer.model.get_base_model().model.layers[0]
    hook = layer.register_forward_pre_hook(
        lambda mod, args, kwargs: lengths.append((args[0] if args else kwargs["hidden_states"]).shape[1]),
        with_kwargs=True,
    )
    trainer.train()
    hook.remove()
    # generation calls first: one prefill with the prompt, then one token per step
    decode = [n for n in lengths if n == 1]
    assert len(decode) >= 4, lengths[:20]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["merged", "static"])
def test_grpo_run_with_fast_backend(tmp_path, tiny_model_dir, backend):
    from trainer import grpo

    run = tmp_path / backend
    params = tiny_grpo_params(tiny_model_dir, max_steps=2, save_steps=2, max_completion_length=8)
    spec = job_spec("grpo", run, dict(params, **ONE_STEP_A_BATCH, generation_backend=backend))
    assert grpo.main(spec) == 0
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    started = [e for e in events if e.get("event") == "started" or e.get("type") == "started"]
    assert started and started[0].get("generation_backend") == backend
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len([r for r in rows if "reward" in r]) == 2
    assert len((run / "completions.jsonl").read_text().splitlines()) == 4


def test_auto_resolves_by_device_and_adapter():
    base = dict(model_path="m", dataset="arc1/train")
    assert fast_generation.resolve(GRPOParams(**base), cuda=False) == "trl"
    assert fast_generation.resolve(GRPOParams(**base), cuda=True) == "merged-cudagraph"
    assert fast_generation.resolve(GRPOParams(**base, load_in_4bit=True), cuda=True) == "static"
    assert fast_generation.resolve(GRPOParams(**base, use_dora=True), cuda=True) == "static"
    assert fast_generation.resolve(GRPOParams(**base, use_vllm=True), cuda=True) == "trl"
    assert fast_generation.resolve(GRPOParams(**base, generation_backend="paged"), cuda=True) == "paged"


@pytest.mark.parametrize(
    "params, field",
    [
        (dict(generation_backend="merged", load_in_4bit=True), "load_in_4bit"),
        (dict(generation_backend="merged-static", use_dora=True), "use_dora"),
        (dict(generation_backend="static", use_vllm=True), "use_vllm"),
        (dict(generation_backend="static", backend="unsloth"), "unsloth"),
        (dict(backend="unsloth", use_vllm=True, vllm_mode="server"), "vllm_mode"),
    ],
)
def test_impossible_combinations_refused_at_render_time(params, field):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=field):
        GRPOParams(model_path="m", dataset="arc1/train", **params)
