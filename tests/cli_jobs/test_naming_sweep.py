"""Names (deterministic, filesystem-safe, collision -> suffix) and `-p` sweeps (typed, cartesian)."""

from __future__ import annotations

import pytest

from jobs.errors import SpecError
from jobs.naming import fmt_value, render_name, safe, unique_name
from jobs.sweep import expand, parse_overrides


@pytest.mark.parametrize(
    "v,s",
    [
        (1e-6, "1e-6"),
        (2e-4, "2e-4"),
        (0.01, "0.01"),
        (1.02, "1.02"),
        (100.0, "100"),
        (16, "16"),
        (True, "true"),
        (None, "none"),
        ("arc-v1", "arc-v1"),
    ],
)
def test_fmt_value(v, s):
    assert fmt_value(v) == s


def test_seed_style_name():
    pattern = "{reward_name}_lr{learning_rate}_epochs{epochs}_{num_generations}gen_{gradient_accumulation_steps}accum-steps_{lora_r}lora_repetition-penalty-{repetition_penalty}"
    params = {
        "reward_name": "arc-v2-no-pixel-score",
        "learning_rate": 2e-6,
        "epochs": 100.0,
        "num_generations": 16,
        "gradient_accumulation_steps": 2,
        "lora_r": 32,
        "repetition_penalty": 1.02,
    }
    # exactly what a hand-written EXPERIMENT_NAME=lr${LR}_… export gives for these exports
    assert (
        render_name(pattern, params)
        == "arc-v2-no-pixel-score_lr2e-6_epochs100_16gen_2accum-steps_32lora_repetition-penalty-1.02"
    )
    assert render_name(pattern, params) == render_name(pattern, dict(params))  # deterministic


def test_swept_keys_missing_from_pattern_are_appended():
    assert render_name("lr{learning_rate}", {"learning_rate": 1e-6, "beta": 0.02}, extra=["beta"]) == "lr1e-6_beta0.02"
    assert render_name("lr{learning_rate}", {"learning_rate": 1e-6}, extra=["learning_rate"]) == "lr1e-6"


def test_safe_names():
    assert safe("kaggle2024/eval ../x y") == "kaggle2024-eval-..-x-y"
    assert "/" not in safe("a/b/c") and not safe("../../etc").startswith(".")
    assert safe("") == "run" and len(safe("x" * 1000)) <= 200


def test_unique_name_suffixes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a-2").mkdir()
    assert unique_name(tmp_path, "a") == "a-3"
    assert unique_name(tmp_path, "b") == "b"
    assert unique_name(tmp_path, "b", taken=lambda p: p.endswith("/b")) == "b-2"


def test_parse_overrides_typed_and_product():
    ov = parse_overrides(["learning_rate=1e-6,2e-6", "beta=0.01,0.02", "use_vllm=true", "lora_r=8"], "grpo")
    assert ov == {"learning_rate": [1e-6, 2e-6], "beta": [0.01, 0.02], "use_vllm": [True], "lora_r": [8]}
    points = expand(ov)
    assert len(points) == 4
    assert points[0] == {"learning_rate": 1e-6, "beta": 0.01, "use_vllm": True, "lora_r": 8}
    assert points[-1]["learning_rate"] == 2e-6 and points[-1]["beta"] == 0.02
    assert expand({}) == [{}]


def test_parse_overrides_json_values_and_resources():
    ov = parse_overrides(['lora_target_modules=["q_proj","v_proj"]', "resources.gpus=2", "adapter_path=none"], "grpo")
    assert ov["lora_target_modules"] == [["q_proj", "v_proj"]]
    assert ov["resources.gpus"] == [2] and ov["adapter_path"] == [None]


@pytest.mark.parametrize(
    "item,needle",
    [
        ("learning_rate=abc", "learning_rate='abc'"),
        ("learning_rate=-1", "greater than 0"),
        ("lerning_rate=1", "did you mean 'learning_rate'"),
        ("scale_rewards=bach", "scale_rewards='bach'"),
        ("resources.gpu=1", "did you mean 'gpus'"),
        ("learning_rate", "expected key=value"),
        ("beta=0.1,", "empty value"),
    ],
)
def test_bad_overrides(item, needle):
    with pytest.raises(SpecError) as e:
        parse_overrides([item], "grpo")
    assert needle in str(e.value)


def test_none_is_a_choice_where_a_parameter_names_it_and_null_elsewhere():
    from jobs.sweep import coerce

    assert coerce("grpo", "scale_rewards", "none") == "none"  # Literal["group", "batch", "none"]
    assert coerce("grpo", "max_tasks", "none") is None
    assert coerce("grpo", "adapter_path", "None") is None
