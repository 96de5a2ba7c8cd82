"""The tiny model: loads with the Auto classes, pads with its own token, chats, builds deterministically."""

from __future__ import annotations

import hashlib

import pytest

from .helpers import run_trainer

pytestmark = pytest.mark.timeout(180)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_loads_and_generates(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 2
    assert 2000 <= len(tok) <= 4096
    assert tok.pad_token_id is not None and tok.pad_token_id != tok.eos_token_id
    assert model.generation_config.eos_token_id == tok.eos_token_id
    text = tok.apply_chat_template(
        [{"role": "user", "content": "Blue Red\n0120"}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|assistant|>\n") and "Blue Red" in text
    code = "def transform(input_grid):\n    return np.flipud(input_grid)\n"
    assert tok.decode(tok(code, add_special_tokens=False)["input_ids"]) == code
    # python and grid text were in the tokenizer's corpus: they compress well below one token per char
    assert len(tok(code)["input_ids"]) < len(code) / 2.5
    ids = tok(text, return_tensors="pt")
    torch.manual_seed(0)
    out = model.generate(**ids, max_new_tokens=5, do_sample=True, pad_token_id=tok.pad_token_id)
    assert out.shape[1] == ids["input_ids"].shape[1] + 5 or tok.eos_token_id in out[0].tolist()


def test_cli_build_is_deterministic(tiny_model_dir, tmp_path):
    proc = run_trainer("tiny-model", str(tmp_path / "again"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("tokenizer.json", "model.safetensors", "config.json"):
        assert _digest(tmp_path / "again" / name) == _digest(tiny_model_dir / name), name
