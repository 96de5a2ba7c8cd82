"""One parameter, one declaration: jobs.params holds each default, templates only override, and a
value walks template -> spec -> spec.json -> trainer -> TRL's GRPOConfig / SFTConfig unchanged."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from jobs import trl_args
from jobs.params import PARAMS_BY_KIND, GRPOParams, SFTParams
from jobs.submit import build_specs
from jobs.templates import builtin_dir, load_template, template_names
from trainer import grpo, sft
from trainer.cli import load_spec

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """Built-in templates only; registry and runs in tmp."""
    monkeypatch.setenv("ARCCTL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARCCTL_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "home"


def test_no_built_in_template_repeats_a_default():
    for path in sorted(builtin_dir().glob("*.toml")):
        doc = tomllib.loads(path.read_text())
        model = PARAMS_BY_KIND[doc["template"]["kind"]]
        for key, value in doc.get("params", {}).items():
            default = model.model_fields[key].get_default(call_default_factory=True)
            assert value != default, f"{path.name}: {key} = {value!r} repeats the default of jobs.params"


def test_new_job_form_shows_what_the_job_gets(home):
    from arcctl.tui.screens.new_job import template_defaults
    from arcctl.tui.widgets.params_form import with_defaults

    for name in template_names():
        tpl = load_template(name)
        # what a job of this template gets (grpo-refine's build also needs a refine file)
        gets = PARAMS_BY_KIND[tpl.kind].model_validate(dict(tpl.params)).model_dump(mode="json")
        shown = with_defaults(tpl.kind, template_defaults(tpl))
        assert {k: shown[k] for k in gets} == gets, name
    [spec] = build_specs("grpo", ["model_path=m", "dataset=arc1/train"])
    assert {k: v for k, v in spec.params.items() if k not in ("model_path", "dataset")} == {
        k: v
        for k, v in PARAMS_BY_KIND["grpo"]
        .model_validate({"model_path": "m", "dataset": "d"})
        .model_dump(mode="json")
        .items()
        if k not in ("model_path", "dataset")
    }


@pytest.mark.parametrize(
    "override, expected",
    [([], GRPOParams.model_fields["repetition_penalty"].default), (["repetition_penalty=1.05"], 1.05)],
)
def test_repetition_penalty_walks_from_template_to_grpo_config(home, tmp_path, override, expected):
    assert GRPOParams.model_fields["repetition_penalty"].default == 1.02
    [spec] = build_specs("grpo", override, run_dir=str(tmp_path / "run"))
    assert spec.params["repetition_penalty"] == expected
    spec.write()
    loaded, run_dir = load_spec(str(tmp_path / "run"))  # what the trainer reads on the GPU host
    p = loaded.typed_params()
    assert p.repetition_penalty == expected
    config = grpo.grpo_config(p, run_dir, bf16=False)
    assert config.repetition_penalty == expected
    [named] = build_specs("grpo", override)  # the run's name, from templates/grpo.toml's pattern
    assert f"repetition-penalty-{expected}" in named.name


def test_repetition_penalty_is_declared_once_and_mapped_once():
    """Between the template and GRPOConfig, only jobs/params.py declares it (type, default, bounds)
    and only jobs/trl_args.py hands it to TRL: no layer re-declares, re-defaults or re-maps it."""
    root = Path(__file__).resolve().parents[2]
    assigns = re.compile(r"\brepetition_penalty\s*[:=](?!=)")
    found = sorted(
        str(f.relative_to(root))
        for d in ("jobs", "trainer", "arcctl")
        for f in (root / d).rglob("*.py")
        if assigns.search(f.read_text())
    )
    assert found == ["jobs/params.py", "jobs/trl_args.py"]


def test_sft_config_carries_its_parameters(tmp_path):
    p = SFTParams(model_path="m", dataset="d", packing=True, completion_only_loss=False, max_seq_length=777)
    c = sft.sft_config(p, tmp_path, bf16=False, has_eval=True)
    assert (c.learning_rate, c.max_steps, c.per_device_train_batch_size, c.gradient_accumulation_steps) == (
        2e-4,
        4000,
        2,
        16,
    )  # SFT's own defaults
    assert (c.max_length, c.packing, c.completion_only_loss, c.eval_strategy.value, c.eval_steps) == (
        777,
        True,
        False,
        "steps",
        p.save_steps,
    )
    assert trl_args.sft_args(p, tmp_path, False, has_eval=False)["eval_strategy"] == "no"


def test_typed_params_are_validated_once_and_never_shared(tmp_path):
    [spec] = build_specs("grpo", ["model_path=m"], run_dir=str(tmp_path / "r"))
    a = spec.typed_params()
    a.beta = 9.0
    assert spec.typed_params().beta == spec.params["beta"] != 9.0
    moved = spec.model_copy(update={"params": {**spec.params, "beta": 0.5}})
    assert moved.typed_params().beta == 0.5 and spec.typed_params().beta != 0.5
    assert Path(spec.run_dir).name == "r"
