"""Decode attention for grouped-query models that reads each key/value head once.

transformers' SDPA path copies every key/value head once per query head it serves (`repeat_kv`)
whenever an attention mask is passed, and padded batched sampling always passes one. At the
Llama-3.1-8B shape (32 query heads over 8 key/value heads) with a 3k-token static cache and 16
sequences, that copy moves several times more bytes per decoded token than the weights themselves.

Here a decoded token's query heads are regrouped by the key/value head they share, so each group
meets its key/value head in two batched matmuls (scores, then values) with the softmax in float32 —
the arithmetic of transformers' eager attention, with nothing copied. On the H200 at that shape the
fused SDPA path (cuDNN with an expanded mask) took ~14 ms of a ~20 ms decode step. Prefill (more than one query token) and
models without grouping go through transformers' own SDPA function unchanged.

`enable(model)` registers the function with transformers' attention and mask interfaces under
`NAME` and switches that model (and only that model: it gets its own config object) to it.
"""

from __future__ import annotations

NAME = "arc_grouped_sdpa"


def grouped_sdpa(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, **kwargs):
    """Same signature and result layout as transformers' `sdpa_attention_forward`."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch, heads, q_len, dim = query.shape
    kv_heads = key.shape[1]
    if q_len != 1 or kv_heads == heads or dropout:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    group = heads // kv_heads
    # query head i uses key/value head i // group (the order repeat_kv produces)
    grouped = query.reshape(batch, kv_heads, group, dim)
    # two batched matmuls that read K and V once, softmax in float32: the arithmetic of transformers'
    # eager attention (fused SDPA kernels need an expanded bias or repeated heads here)
    scores = torch.matmul(grouped, key.transpose(-1, -2)).float() * (dim**-0.5 if scaling is None else scaling)
    if attention_mask is not None:
        mask = attention_mask[:, :, -1:, : key.shape[2]]
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask.float()
    out = torch.matmul(scores.softmax(-1).to(value.dtype), value)
    return out.reshape(batch, heads, 1, dim).transpose(1, 2).contiguous(), None


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, grouped_sdpa)
    AttentionMaskInterface.register(NAME, sdpa_mask)


def applies(config) -> bool:
    """True when the model groups query heads and runs SDPA (the case this function speeds up)."""
    heads = getattr(config, "num_attention_heads", None)
    kv = getattr(config, "num_key_value_heads", None) or heads
    return bool(heads and kv and kv < heads and getattr(config, "_attn_implementation", None) == "sdpa")


def enable(model) -> bool:
    """Switch `model` to grouped decode attention when it applies; True when switched.

    Every module's config is replaced by a copy of its own (some transformers versions give the
    attention layers config objects other than the model's), so no other model sharing a config
    changes its attention."""
    import copy

    if not applies(model.config):
        return False
    _register()
    copies: dict[int, object] = {}
    for module in model.modules():
        cfg = getattr(module, "config", None)
        if cfg is None or not hasattr(cfg, "_attn_implementation"):
            continue
        if id(cfg) not in copies:
            own = copy.deepcopy(cfg)
            own._attn_implementation = NAME
            copies[id(cfg)] = own
        module.config = copies[id(cfg)]
    return all(
        m.config._attn_implementation == NAME
        for m in model.modules()
        if hasattr(getattr(m, "config", None), "_attn_implementation")
    )
