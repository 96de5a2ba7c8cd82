"""The eval job end to end: `python -m trainer eval SPEC.json` with the tiny model (transformers
generate, real sandbox), then `arcctl compare` and `arcctl submission build` on its run dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arcctl.cli.main import app
from jobs.records import check_run_dir
from jobs.rundir import read_jsonl
from tests.tiny_params import job_spec, tiny_eval_params

ROOT = Path(__file__).resolve().parents[2]


def _eval_spec(run_dir: Path, model: Path, **over) -> Path:
    params = tiny_eval_params(model, n_predictions=4, max_new_tokens=48, n_jobs=2, batch_size=12, seed=1)
    return job_spec("eval", run_dir, {**params, **over}, entry=["python", "-m", "trainer", "eval"]).write()


def _trainer(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_eval_job_with_tiny_model(tmp_path, tiny_model_dir):
    run = tmp_path / "eval-tiny"
    r = _trainer("eval", str(_eval_spec(run, tiny_model_dir)))
    assert r.returncode == 0, r.stderr[-2000:]
    assert check_run_dir(str(run)) == []  # every record the trainer wrote matches jobs.records
    doc = json.loads((run / "eval" / "metrics.json").read_text())
    preds = read_jsonl(run / "eval" / "predictions.jsonl")
    assert len(preds) == 12 and doc["n_predictions"] == 4 and doc["backend"] == "transformers"
    assert set(doc["per_task"]) == set(doc["task_tests"]) and len(doc["per_task"]) == 3
    # the untrained model mostly writes garbage: whatever it wrote, the counts must add up
    assert sum(doc["errors"].values()) == 12
    ok = doc["errors"].get("ok", 0)
    agg = doc["aggregate"]
    assert agg["valid_outputs"] == pytest.approx(ok / 12)
    no_valid_code = doc["errors"].get("parse", 0) + doc["errors"].get("no_code", 0)
    assert agg["valid_code"] == pytest.approx(1 - no_valid_code / 12)
    assert 0 <= agg["unique_outputs"] <= agg["valid_outputs"]
    assert agg["is_correct"] >= agg["pass_rate"] and agg["train_is_correct"] >= agg["train_pass_rate"]
    assert set(agg["pass_at_k"]) == {"1", "2", "4"} and agg["pass_at_k_unsupported"] == []
    for p in preds:
        assert p["n_tokens"] <= 48
        if p["truncated"]:  # truncated means it ran into max_new_tokens without EOS
            assert p["n_tokens"] == 48
        assert (p["error"] is None) == p["valid_outputs"]
    events = [e["event"] for e in read_jsonl(run / "events.jsonl")]
    assert events == ["started", "stopped"]
    assert "| arc1/train | eval-tiny |" in r.stdout

    runner = CliRunner()
    c = runner.invoke(app, ["compare", str(run), "--json"])
    assert c.exit_code == 0, c.output
    assert json.loads(c.output)["rows"][0]["values"]["n_preds"] == 4
    out = tmp_path / "sub.json"
    b = runner.invoke(app, ["submission", "build", str(run), "-o", str(out)])
    assert b.exit_code == 0, b.output
    assert set(json.loads(out.read_text())) == set(doc["task_tests"])


def test_vllm_missing_names_the_extra(tmp_path):
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401

        pytest.skip("vllm is installed here")
    except ImportError:
        pass
    run = tmp_path / "ev"
    r = _trainer("eval", str(_eval_spec(run, tmp_path / "no-model", use_vllm=True)))
    assert r.returncode == 2
    assert "pip install 'arcctl[vllm]'" in r.stderr and "Traceback" not in r.stderr
    err = [e for e in read_jsonl(run / "events.jsonl") if e["event"] == "error"]
    assert err and "vllm" in err[0]["message"]


def test_bad_adapter_path_is_one_line(tmp_path, tiny_model_dir):
    run = tmp_path / "ev"
    r = _trainer("eval", str(_eval_spec(run, tiny_model_dir, adapter_path=str(tmp_path / "nope"))))
    assert r.returncode == 2
    assert "adapter_path" in r.stderr and "not a directory" in r.stderr and "Traceback" not in r.stderr


def test_bad_model_path_is_one_line(tmp_path):
    run = tmp_path / "ev"
    r = _trainer("eval", str(_eval_spec(run, tmp_path / "no-such-model")))
    assert r.returncode == 2, r.stderr[-1500:]
    assert "model_path: cannot load" in r.stderr and "Traceback" not in r.stderr
