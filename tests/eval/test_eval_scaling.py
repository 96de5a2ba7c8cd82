"""Evaluation at scale: predictions appended chunk by chunk, a killed eval resumes where it stopped,
sampling groups, and a seed of its own for each prediction (tiny model, real ARC tasks)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.params import EvalParams
from jobs.rundir import read_jsonl
from tests.tiny_params import job_spec, tiny_eval_params
from trainer.evaluate import plan, sample_seed
from trainer.generation import Completion

ROOT = Path(__file__).resolve().parents[2]
FLIPLR = " mirror\n\ndef transform(input_grid):\n    return np.fliplr(input_grid)\n```"


class Recorder:
    """Answers every prompt with the same program; remembers each call's settings."""

    def __init__(self, tokenizer, fail_after: int | None = None):
        self.tokenizer, self.calls, self.fail_after = tokenizer, [], fail_after

    def generate(self, prompts, max_new_tokens, temperature=1.0, top_p=1.0, seed=0, seeds=None, **_):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt  # the job killed between two chunks
        self.calls.append({"n": len(prompts), "temperature": temperature, "seeds": list(seeds)})
        return [Completion(FLIPLR, 10, False) for _ in prompts]


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _params(tiny_model_dir, **over):
    base = tiny_eval_params(tiny_model_dir, n_predictions=4, seed=2, n_jobs=2, grid_encoder="digits")
    return EvalParams(**{**base, **over})


def test_every_prediction_has_its_own_stable_seed():
    from trainer.data import load_tasks

    tasks = load_tasks("arc1/train")[:5]
    planned = plan(tasks, 8, True, seed=1)
    seeds = [p.seed for p in planned]
    assert len(set(seeds)) == len(seeds)
    # a prediction's seed (and augmentation) does not depend on which other tasks are evaluated
    alone = plan(tasks[3:4], 8, True, seed=1)
    assert [p.seed for p in alone] == seeds[24:32]
    assert [p.aug.to_dict() for p in alone] == [p.aug.to_dict() for p in planned[24:32]]
    assert sample_seed(1, "x", 0) != sample_seed(2, "x", 0)


def test_identical_prompts_sampled_with_their_own_seeds_differ(tiny_model_dir, tok):
    """Without augmentation the n prompts of a task are the same text: with one seed for all (what
    a per-request engine like vLLM does with a shared seed) they would be n copies of one sample."""
    from trainer.data import load_tasks
    from trainer.encoders import get_encoder
    from trainer.generation import TransformersGenerator
    from trainer.prompts import build_prompt_text

    task = load_tasks("arc1/train")[0]
    prompt = build_prompt_text(task, get_encoder("digits"), tok)
    gen = TransformersGenerator(str(tiny_model_dir), batch_size=1)
    own = gen.generate([prompt] * 4, 12, temperature=1.0, seeds=[11, 12, 13, 14])
    shared = gen.generate([prompt] * 4, 12, temperature=1.0, seeds=[11, 11, 11, 11])
    assert len({c.text for c in own}) > 1
    assert len({c.text for c in shared}) == 1  # the seed really decides the draw
    again = gen.generate([prompt] * 4, 12, temperature=1.0, seeds=[11, 12, 13, 14])
    assert [c.text for c in again] == [c.text for c in own]  # and is reproducible


@pytest.mark.timeout(300)
def test_eval_without_augmentation_gives_different_predictions(tmp_path, tiny_model_dir):
    from trainer.evaluate import run_eval

    params = _params(
        tiny_model_dir, max_tasks=2, use_data_augmentation=False, max_new_tokens=12, save_every=1, temperature=1.0
    )
    run_eval(params, tmp_path, log=lambda *a: None)
    preds = read_jsonl(tmp_path / "eval" / "predictions.jsonl")
    assert len(preds) == 8
    for tid in {p["task_id"] for p in preds}:
        texts = [p["completion"] for p in preds if p["task_id"] == tid]
        assert len(set(texts)) > 1, texts


def test_sampling_groups(tmp_path, tiny_model_dir, tok):
    from trainer.evaluate import run_eval

    params = _params(
        tiny_model_dir,
        sampling=[{"n": 2, "temperature": 0.1}, {"n": 3, "temperature": 0.9}],
        use_data_augmentation=False,
    )
    assert params.n_predictions == 5
    gen = Recorder(tok)
    doc = run_eval(params, tmp_path, generator=gen, log=lambda *a: None)
    # one generate call per task and temperature (chunks never mix sampling settings)
    assert [(c["n"], c["temperature"]) for c in gen.calls] == [(2, 0.1), (3, 0.9)] * 3
    preds = read_jsonl(tmp_path / "eval" / "predictions.jsonl")
    assert [p["temperature"] for p in preds[:5]] == [0.1, 0.1, 0.9, 0.9, 0.9]
    assert doc["sampling"] == [{"n": 2, "temperature": 0.1, "top_p": 1.0}, {"n": 3, "temperature": 0.9, "top_p": 1.0}]
    assert doc["aggregate"]["n_preds"] == 5 and set(doc["aggregate"]["pass_at_k"]) == {"1", "2", "4", "5"}


def test_sampling_group_mistakes_are_refused():
    with pytest.raises(ValueError, match="sampling.1.temperature"):
        EvalParams(model_path="m", dataset="arc1/train", sampling=[{"n": 2, "temperature": 0.1}, {"n": 3}])
    with pytest.raises(ValueError, match="sampling.0.n"):
        EvalParams(model_path="m", dataset="arc1/train", sampling=[{"n": 0, "temperature": 0.1}])


def test_interrupted_eval_resumes_and_ends_with_the_same_metrics(tmp_path, tiny_model_dir, tok):
    from trainer.evaluate import run_eval

    params = _params(tiny_model_dir, save_every=3)
    whole = run_eval(params, tmp_path / "whole", generator=Recorder(tok), log=lambda *a: None)
    run = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        run_eval(params, run, generator=Recorder(tok, fail_after=2), log=lambda *a: None)
    pred = run / "eval" / "predictions.jsonl"
    first = pred.read_text().splitlines()
    assert len(first) == 6  # two chunks of 3 were written before the kill
    with open(pred, "a") as f:
        f.write('{"task_id": "torn')  # killed in the middle of a line
    gen = Recorder(tok)
    doc = run_eval(params, run, generator=gen, log=lambda *a: None)
    assert sum(c["n"] for c in gen.calls) == 12 - 6  # only what was missing was generated
    lines = pred.read_text().splitlines()
    assert len(lines) == 12 and lines[:6] == first
    keys = [(json.loads(x)["task_id"], json.loads(x)["sample"]) for x in lines]
    assert len(set(keys)) == 12
    assert doc["resumed"] is True and doc["aggregate"] == whole["aggregate"] and doc["per_task"] == whole["per_task"]
    # other parameters: the old predictions are replaced, never mixed in
    gen = Recorder(tok)
    run_eval(_params(tiny_model_dir, save_every=3, seed=9), run, generator=gen, log=lambda *a: None)
    assert sum(c["n"] for c in gen.calls) == 12 and len(pred.read_text().splitlines()) == 12


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_killed_eval_job_resumes_where_it_stopped(tmp_path, tiny_model_dir):
    run = tmp_path / "eval"
    params = tiny_eval_params(tiny_model_dir, n_predictions=12, max_new_tokens=16, save_every=4, batch_size=4)
    job_spec("eval", run, dict(params, n_jobs=1, seed=4, grid_encoder="digits")).write()
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "trainer", "run", str(run)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pred = run / "eval" / "predictions.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if pred.exists() and len(pred.read_text().splitlines()) >= 8:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the eval finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = pred.read_text().splitlines()
    assert 8 <= len(before) < 36
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming: {len(before)} predictions" in done.stdout
    after = pred.read_text().splitlines()
    assert len(after) == 36 and after[: len(before)] == before
    assert len({(json.loads(x)["task_id"], json.loads(x)["sample"]) for x in after}) == 36
    doc = json.loads((run / "eval" / "metrics.json").read_text())
    assert doc["resumed"] is True and doc["aggregate"]["n_preds"] == 12
