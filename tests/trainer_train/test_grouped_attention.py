"""Grouped decode attention (trainer/grouped_attention.py), CPU: decoding through a static cache gives
the logits transformers' SDPA path gives, the function really serves the decoded tokens, and only
the generation copy switches to it (the training model keeps its own attention)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from trainer import grouped_attention  # noqa: E402


def _llama(heads: int, kv_heads: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        vocab_size=97,
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(cfg).eval()


def _decode(model, steps: int = 6):
    """Logits of a left-padded prefill and `steps` greedy decode steps through a StaticCache."""
    from transformers import StaticCache

    ids = torch.randint(0, 97, (3, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[0, :4] = 0  # one left-padded row, as batched sampling pads
    length = 32
    cache = StaticCache(config=model.config, max_cache_len=length)
    full = torch.zeros(3, length, dtype=torch.long)
    full[:, :9] = mask
    pos = (mask.cumsum(1) - 1).clamp(min=0)
    out = []
    with torch.no_grad():
        logits = model(
            input_ids=ids, attention_mask=full, position_ids=pos, past_key_values=cache, use_cache=True
        ).logits[:, -1]
        pos = pos[:, -1:].clone()
        for t in range(steps):
            out.append(logits)
            full[:, 9 + t] = 1
            pos += 1
            logits = model(
                input_ids=logits.argmax(-1)[:, None],
                attention_mask=full,
                position_ids=pos,
                past_key_values=cache,
                use_cache=True,
            ).logits[:, -1]
    return torch.stack(out)


def test_grouped_decode_matches_sdpa_and_serves_every_decoded_token(monkeypatch):
    import copy

    from transformers import AttentionInterface

    model = _llama(heads=8, kv_heads=2)
    grouped = copy.deepcopy(model)
    assert grouped_attention.enable(grouped)
    query_lengths = []
    real = grouped_attention.grouped_sdpa

    def spy(module, query, *args, **kwargs):
        query_lengths.append(query.shape[2])
        return real(module, query, *args, **kwargs)

    grouped_attention._register()
    monkeypatch.setitem(AttentionInterface._global_mapping, grouped_attention.NAME, spy)
    want, got = _decode(model), _decode(grouped)
    assert torch.allclose(want, got, atol=1e-5), (want - got).abs().max()
    # 2 layers: one prefill call (9 tokens) and 6 single-token calls per layer
    assert query_lengths.count(9) == 2 and query_lengths.count(1) == 2 * 6
    # the original model was not switched
    assert model.config._attn_implementation == "sdpa"
    assert all(
        getattr(m, "config", model.config)._attn_implementation == "sdpa"
        for m in model.modules()
        if hasattr(m, "config")
    )


def test_models_without_grouping_keep_sdpa():
    model = _llama(heads=4, kv_heads=4)
    assert not grouped_attention.enable(model)
    assert model.config._attn_implementation == "sdpa"


def test_merged_copy_switches_only_itself(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from trainer import fast_generation

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32, attn_implementation="sdpa")
    model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    copy = fast_generation.MergedCopy(model)
    assert base.config._attn_implementation == "sdpa"
    expected = grouped_attention.NAME if grouped_attention.applies(base.config) else "sdpa"
    assert copy.model.config._attn_implementation == expected
    assert copy.model.config is not base.config
