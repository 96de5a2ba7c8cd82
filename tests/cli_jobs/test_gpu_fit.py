"""Render-time GPU fit check (jobs/gpu_fit.py): a GRPO job whose unavoidable memory (weights, the
merged sampling copy, the completions' KV cache) exceeds the profile's `gpu_memory` gets one warning
naming the setting to change; what fits, or what cannot be read here, gets none."""

from __future__ import annotations

import json

import pytest

from jobs import gpu_fit

LLAMA_8B = dict(hidden_size=4096, num_hidden_layers=32, intermediate_size=14336, vocab_size=128256)
LLAMA_8B.update(num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False)
GRPO = dict(num_generations=16, max_completion_length=1024, generation_backend="auto")


@pytest.fixture
def model_8b(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_8B))
    return str(tmp_path)


def test_parts_match_the_llama_8b_arithmetic():
    parts = gpu_fit.lower_bound(LLAMA_8B, GRPO)
    linear = 32 * (4096 * 4096 * 2 + 4096 * 1024 * 2 + 3 * 4096 * 14336)
    assert parts["weights"] == pytest.approx((linear * 2 + 128256 * 4096 * 2 * 2) / 2**30)
    assert parts["sampling copy"] == pytest.approx(linear * 2 / 2**30)
    assert parts["KV cache"] == pytest.approx(16 * 1024 * 32 * 2 * 8 * 128 * 2 / 2**30)
    four = gpu_fit.lower_bound(LLAMA_8B, {**GRPO, "load_in_4bit": True})
    assert "sampling copy" not in four and four["weights"] < parts["weights"] / 2.5


def test_bf16_8b_on_a_24g_gpu_warns_and_names_load_in_4bit(model_8b):
    msg = gpu_fit.warning("grpo", {**GRPO, "model_path": model_8b}, "24G")
    assert msg is not None and "load_in_4bit = true" in msg and "24G" in msg
    assert "sampling copy" in msg


def test_4bit_8b_fits_24g_and_everything_fits_an_h200(model_8b):
    assert gpu_fit.warning("grpo", {**GRPO, "model_path": model_8b, "load_in_4bit": True}, "24G") is None
    assert gpu_fit.warning("grpo", {**GRPO, "model_path": model_8b}, "141G") is None


def test_a_huge_batch_in_4bit_names_the_generation_settings(model_8b):
    msg = gpu_fit.warning(
        "grpo",
        {**GRPO, "model_path": model_8b, "load_in_4bit": True, "num_generations": 64, "max_completion_length": 8192},
        "24G",
    )
    assert msg is not None and "num_generations" in msg and "load_in_4bit" not in msg.split(":")[-1]


@pytest.mark.parametrize("content", [None, "not json", "[1, 2]", json.dumps({"hidden_size": "big"}), "[" * 100_000])
def test_unreadable_or_foreign_models_are_not_checked(tmp_path, content):
    if content is not None:
        (tmp_path / "config.json").write_text(content)
    assert gpu_fit.warning("grpo", {**GRPO, "model_path": str(tmp_path)}, "1G") is None
    assert gpu_fit.warning("grpo", {**GRPO, "model_path": "meta-llama/Llama-3.1-8B"}, "1G") is None


def test_no_gpu_memory_or_other_kinds_are_not_checked(model_8b):
    assert gpu_fit.warning("grpo", {**GRPO, "model_path": model_8b}, None) is None
    assert gpu_fit.warning("sft", {**GRPO, "model_path": model_8b}, "1G") is None


def test_profile_gpu_memory_is_validated():
    from pydantic import ValidationError

    from jobs.spec import Resources

    assert Resources(gpu_memory="24G").gpu_memory == "24G"
    with pytest.raises(ValidationError):
        Resources(gpu_memory="lots")


def test_render_and_submit_on_a_24g_profile_print_the_warning_once(home, tmp_path):
    from tests.cli_jobs.conftest import run_cli

    model = tmp_path / "model-8b"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(LLAMA_8B))
    cfg = home.parent / "config"
    (cfg / "profiles" / "rtx3090.toml").write_text(
        '[profile]\nbackend = "local"\n[resources]\ngpus = 1\ngpu_memory = "24G"\n'
    )
    res = run_cli(
        "render", "grpo", "--profile", "rtx3090", "-p", f"model_path={model}", "-p", "learning_rate=1e-6,2e-6"
    )
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("warning:")]
    assert len(lines) == 1 and "load_in_4bit = true" in lines[0], res.stderr
    ok = run_cli("render", "grpo", "--profile", "rtx3090", "-p", f"model_path={model}", "-p", "load_in_4bit=true")
    assert ok.returncode == 0 and "warning:" not in ok.stderr, ok.stderr
    bad = run_cli(
        "render", "grpo", "--profile", "rtx3090", "-p", f"model_path={model}", "-p", "resources.gpu_memory=lots"
    )
    assert bad.returncode == 2 and "gpu_memory" in bad.stderr and "Traceback" not in bad.stderr
