"""Eval sampling values render passed but the GPU host choked on. `n_predictions=1e12` or a
sampling group of n=1e23 were accepted: the trainer plans every prediction before sampling, so
the job died of memory after loading its model. Sampling groups given with -p were not summed into
n_predictions: the run was named `..._128preds` and spec.json said 128 while the trainer, reading
spec.json, sampled the groups' sum (and a sum past the limit failed only there)."""

from __future__ import annotations

import json

import pytest

from jobs.errors import SpecError
from jobs.params import MAX_SAMPLES, EvalParams
from jobs.spec import JobSpec
from jobs.submit import build_specs
from tests.cli_jobs.conftest import run_cli

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize(
    "kind, value",
    [
        ("eval", f"n_predictions={10**12}"),
        ("eval", 'sampling=[{"n": 100000000000000000000000, "temperature": 0.1}]'),
        ("eval", f'sampling=[{{"n": {MAX_SAMPLES}, "temperature": 0.1}}, {{"n": 1, "temperature": 0.9}}]'),
        ("her", f'sampling=[{{"n": {MAX_SAMPLES + 1}, "temperature": 0.1}}]'),
    ],
)
def test_more_samples_than_a_host_can_plan_are_refused(home, kind, value):
    with pytest.raises(SpecError, match=f"(n_predictions|sampling).*less than or equal to {MAX_SAMPLES}"):
        build_specs(kind, ["dataset=arc1/eval", value] if kind == "eval" else [value], "local")


def test_sampling_groups_name_the_run_and_fill_the_spec_as_the_trainer_reads_it(home, tmp_path):
    groups = '[{"n": 6, "temperature": 0.1}, {"n": 2, "temperature": 0.9}]'
    (spec,) = build_specs("eval", ["dataset=arc1/eval", f"sampling={groups}"], "local")
    assert spec.params["n_predictions"] == 8 and spec.typed_params().n_predictions == 8
    assert spec.name == "eval_arc1-eval_8preds"
    res = run_cli("render", "eval", "--json", "-p", "dataset=arc1/eval", "-p", f"sampling={groups}", check=True)
    (item,) = json.loads(res.stdout)
    assert item["spec"]["name"] == "eval_arc1-eval_8preds" and item["spec"]["params"]["n_predictions"] == 8
    spec.write()  # what the trainer reads on the host
    assert JobSpec.read(spec.run_dir).typed_params().n_predictions == 8
    assert EvalParams.model_validate({"model_path": "m", "dataset": "d", "n_predictions": MAX_SAMPLES})


@pytest.mark.parametrize(
    "kind, value, message",
    [
        # pydantic reads true as 1: a group of n=true sampled once
        ("eval", 'sampling=[{"n": true, "temperature": 0.1}]', "sampling.0.n"),
        ("her", 'sampling=[{"n": true, "temperature": 0.1}]', "sampling.0.n"),
        # a temperature past any useful one is a typo (1e300 passed and sampled noise)
        ("eval", 'sampling=[{"n": 4, "temperature": 1e300}]', "less than or equal to 10"),
        ("eval", "temperature=50", "less than or equal to 10"),
        ("grpo", "temperature=50", "less than or equal to 10"),
    ],
)
def test_a_boolean_or_absurd_temperature_is_not_a_number_the_job_uses(home, kind, value, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(")):
        build_specs(kind, ["dataset=arc1/eval", value] if kind == "eval" else [value], "local")
    # the flags that are booleans still take them
    build_specs("grpo", ["wandb=true", "use_vllm=false"], "local")


def test_a_boolean_in_a_number_field_of_a_template_or_spec_is_refused():
    """`max_steps = true` in a user TOML template or spec.json reached pydantic as a bool, which it
    read as 1: the job trained one step. (-p parses `true` by the field's type and refuses it.)"""
    from pydantic import ValidationError

    from jobs.params import GRPOParams, SFTParams

    base = dict(model_path="m", dataset="arc1/train")
    with pytest.raises(ValidationError, match="expected a number, not true"):
        GRPOParams(**base, max_steps=True)
    with pytest.raises(ValidationError, match="expected a number, not false"):
        SFTParams(**base, synthetic_tasks=10, learning_rate=False)
    assert GRPOParams(**base, wandb=True, max_steps=3).max_steps == 3


@pytest.mark.parametrize("kind", ["grpo", "sft"])
@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_step_count_that_trl_would_read_as_train_by_epochs_is_refused(home, kind, value):
    # TRL trains every epoch for any max_steps <= 0; only -1 says so on purpose
    with pytest.raises(SpecError, match="max_steps.*1 or more.*-1"):
        build_specs(kind, [f"max_steps={value}"], "local")


def test_minus_one_still_means_train_by_epochs(home):
    (spec,) = build_specs("sft", ["max_steps=-1"], "local")
    assert spec.params["max_steps"] == -1
