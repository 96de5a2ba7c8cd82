"""Will a GRPO job fit on the profile's GPU? A lower bound, checked at render time.

A profile may say how much memory one of its GPUs has (`[resources] gpu_memory = "24G"`). For a GRPO
job whose model directory is readable here (its `config.json`), `lower_bound` adds up what the job
must hold at once and cannot avoid: the base weights (bf16, or NF4 with `load_in_4bit`), the merged
sampling copy of the adapted weights (`merged*` generation backends, and `auto` on a GPU when the
adapter can be merged), and the KV cache of one generation batch. Activations, logits, the LoRA
optimizer state and allocator slack come on top, so a job whose lower bound already exceeds the GPU
cannot fit; `warning` says so and which setting to change. A model this machine cannot read (a hub
id, a path on a cluster) is not checked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

GIB = 2**30
NF4_BYTES = 0.5  # 4-bit weights; their block scales come on top (a lower bound leaves them out)
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)B?$")
_UNIT = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str) -> int:
    """'24G' -> bytes (the Slurm-style sizes profiles use)."""
    m = _SIZE.match(str(text).strip().upper())
    if not m:
        raise ValueError(f"not a size: {text!r} (e.g. 24G)")
    return int(float(m.group(1)) * _UNIT[m.group(2)])


def model_shape(model_path: str) -> dict[str, Any] | None:
    """The config.json of a local model directory, or None when there is none to read here."""
    path = Path(model_path).expanduser() / "config.json"
    try:
        if not path.is_file() or path.stat().st_size > 1_000_000:
            return None
        cfg = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(cfg, dict):
        return None
    keys = ("hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size", "num_attention_heads")
    if not all(isinstance(cfg.get(k), int) and cfg[k] > 0 for k in keys):
        return None
    return cfg


def lower_bound(cfg: dict[str, Any], params: dict[str, Any]) -> dict[str, float]:
    """GiB per part that a GRPO job holds at once on its GPU (see the module docstring)."""
    hidden, layers = cfg["hidden_size"], cfg["num_hidden_layers"]
    heads = cfg["num_attention_heads"]
    kv_heads = cfg.get("num_key_value_heads") or heads
    head_dim = cfg.get("head_dim") or hidden // heads
    linear = layers * (
        hidden * heads * head_dim * 2 + hidden * kv_heads * head_dim * 2 + 3 * hidden * cfg["intermediate_size"]
    )
    embed = cfg["vocab_size"] * hidden * (1 if cfg.get("tie_word_embeddings") else 2)
    four_bit = bool(params.get("load_in_4bit"))
    parts = {"weights": (linear * (NF4_BYTES if four_bit else 2) + embed * 2) / GIB}
    backend = params.get("generation_backend", "auto")
    mergeable = not four_bit and not params.get("use_dora") and params.get("backend", "trl") != "unsloth"
    if not params.get("use_vllm") and mergeable and (backend.startswith("merged") or backend == "auto"):
        parts["sampling copy"] = linear * 2 / GIB
    # every sampled sequence holds at least its completion's keys and values (prompts come on top)
    tokens = int(params.get("max_completion_length", 0))
    parts["KV cache"] = (int(params.get("num_generations", 1)) * tokens * layers * 2 * kv_heads * head_dim * 2) / GIB
    return parts


def warning(kind: str, params: dict[str, Any], gpu_memory: str | None) -> str | None:
    """One line when a GRPO job cannot fit on a GPU of `gpu_memory`, else None."""
    if kind not in ("grpo", "grpo-refine") or not gpu_memory or not params.get("model_path"):
        return None
    cfg = model_shape(str(params["model_path"]))
    if cfg is None:
        return None
    parts = lower_bound(cfg, params)
    need, have = sum(parts.values()), parse_size(gpu_memory) / GIB
    if need <= have:
        return None
    detail = ", ".join(f"{k} {v:.1f}" for k, v in parts.items())
    if not params.get("load_in_4bit"):
        fix = "set load_in_4bit = true (4-bit weights, no sampling copy)"
    else:
        fix = "lower num_generations or max_completion_length (the KV cache grows with both)"
    return (
        f"this job needs at least {need:.1f} GiB on one GPU ({detail}) but the profile's "
        f"gpu_memory is {gpu_memory}: {fix}"
    )
