"""User errors end with an `error` event, one stderr line naming the culprit and a non-zero exit."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from trainer import grpo

from .helpers import events, grpo_spec, run_trainer

pytestmark = pytest.mark.timeout(180)


def test_missing_dataset_file(tmp_path, tiny_model_dir):
    run_dir = tmp_path / "run"
    grpo_spec(run_dir, tiny_model_dir, dataset=str(tmp_path / "nope_challenges.json"), max_steps=1).write()
    proc = run_trainer("run", str(run_dir))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("trainer: error:") and "nope_challenges.json" in last
    err = [e for e in events(run_dir) if e["event"] == "error"]
    assert len(err) == 1 and "nope_challenges.json" in err[0]["message"]


def test_bad_spec_names_the_field(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "spec.json").write_text(
        json.dumps(
            {
                "kind": "grpo",
                "name": "x",
                "template": "grpo",
                "run_dir": str(run_dir),
                "params": {"model_path": "m", "dataset": "arc1/train", "learning_rate": "fast"},
            }
        )
    )
    proc = run_trainer("run", str(run_dir))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "learning_rate" in proc.stderr and str(run_dir / "spec.json") in proc.stderr
    assert events(run_dir)[-1]["event"] == "error"


def test_missing_spec_file(tmp_path):
    proc = run_trainer("run", str(tmp_path / "missing.json"))
    assert proc.returncode == 2 and "missing.json" in proc.stderr and "Traceback" not in proc.stderr


def test_batch_not_multiple_of_num_generations(tmp_path, tiny_model_dir):
    # refused when the spec is built (render/submit), long before a trainer could see it
    with pytest.raises(ValueError, match=r"= 4 completions per step must be a multiple of num_generations \(3\)"):
        grpo_spec(tmp_path / "run", tiny_model_dir, num_generations=3)


@pytest.mark.skipif(importlib.util.find_spec("unsloth") is not None, reason="unsloth is installed")
def test_unsloth_backend_missing_names_the_extra(tmp_path, tiny_model_dir, capsys):
    assert grpo.main(grpo_spec(tmp_path / "run", tiny_model_dir, backend="unsloth")) == 2
    err = capsys.readouterr().err
    assert "arcctl[unsloth]" in err and len(err.strip().splitlines()) == 1
    assert "arcctl[unsloth]" in events(tmp_path / "run")[-1]["message"]


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_use_vllm_missing_names_the_extra(tmp_path, tiny_model_dir, capsys):
    assert grpo.main(grpo_spec(tmp_path / "run", tiny_model_dir, use_vllm=True)) == 2
    err = capsys.readouterr().err
    assert "arcctl[vllm]" in err and len(err.strip().splitlines()) == 1


def test_unknown_lora_target_module(tmp_path, tiny_model_dir, small_dataset, capsys):
    spec = grpo_spec(
        tmp_path / "run", tiny_model_dir, dataset=str(small_dataset), lora_target_modules=["q_proj", "c_attn"]
    )
    assert grpo.main(spec) == 2
    err = capsys.readouterr().err
    assert "lora_target_modules" in err and "c_attn" in err


def test_wandb_missing_names_the_extra(tmp_path, tiny_model_dir, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as where the extra is not installed
    assert grpo.main(grpo_spec(tmp_path / "run", tiny_model_dir, wandb=True)) == 2
    assert "arcctl[wandb]" in capsys.readouterr().err


def test_eval_command_refuses_other_kinds(tmp_path, tiny_model_dir):
    run_dir = tmp_path / "run"
    grpo_spec(run_dir, tiny_model_dir).write()
    proc = run_trainer("eval", str(run_dir / "spec.json"))
    assert proc.returncode == 2 and "kind is 'grpo'" in proc.stderr and "Traceback" not in proc.stderr


def test_grpo_refine_is_refused_clearly(tmp_path, tiny_model_dir, capsys):
    from jobs.spec import JobSpec

    spec = grpo_spec(tmp_path / "run", tiny_model_dir)
    refine = JobSpec(**{**spec.model_dump(), "kind": "grpo-refine"})
    assert grpo.main(refine) == 2
    assert "grpo-refine" in capsys.readouterr().err
