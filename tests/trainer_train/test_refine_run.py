"""The refine workflow end to end on CPU with the tiny model and real ARC tasks: an eval run ->
`arcctl refine-data` -> a 3-step grpo-refine run -> a fork of it from its checkpoint -> a refine
evaluation of the first run's checkpoint."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from arcctl.cli.main import app
from jobs import refine, rundir
from jobs.spec import CheckpointRef, JobSpec

from .helpers import FAST, completions, events, metrics, run_trainer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_eval_then_refine_data_then_grpo_refine_then_refine_eval(tmp_path, tiny_model_dir, small_dataset):
    # 1. an eval run of the (untrained) tiny model: its programs are wrong, which is what refine needs
    ev = tmp_path / "eval"
    common = dict(
        model_path=str(tiny_model_dir),
        dataset=str(small_dataset),
        grid_encoder="digits",
        n_jobs=1,
        sandbox_timeout_s=2.0,
        seed=5,
    )
    JobSpec(
        kind="eval",
        name="eval",
        template="eval",
        run_dir=str(ev),
        params={**common, "n_predictions": 2, "max_new_tokens": 24, "batch_size": 6},
    ).write()
    proc = run_trainer("run", str(ev))
    assert proc.returncode == 0, proc.stderr[-3000:]

    # 2. refine data from its predictions
    data = tmp_path / "refine.json.gz"
    r = CliRunner().invoke(app, ["refine-data", str(ev), "-o", str(data), "--wrong-only"])
    assert r.exit_code == 0, r.output
    doc = refine.load(data)
    assert doc.dataset == str(small_dataset) and len(doc.records) >= 3

    # 3. grpo-refine: 3 steps on the refine prompts
    run = tmp_path / "refine-run"
    params = {
        **FAST,
        **common,
        "dataset": str(small_dataset),
        "refine_dataset": str(data),
        "max_steps": 3,
        "save_steps": 3,
        "max_completion_length": 24,
    }
    JobSpec(kind="grpo-refine", name="refine-run", template="grpo-refine", run_dir=str(run), params=params).write()
    proc = run_trainer("run", str(run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    started = events(run)[0]
    assert started["event"] == rundir.EV_STARTED and started["rows"] == len(doc.records)
    assert [m["step"] for m in metrics(run)] == [1, 2, 3]
    comps = completions(run)
    assert len(comps) == 3 * 4
    assert {c["task_id"] for c in comps} <= {a.task_id for a in doc.records}
    assert all(c["augmentation"] is None for c in comps)  # refine prompts are never augmented
    assert events(run)[-1]["reason"] == "completed" and (run / "checkpoint-3").is_dir()

    # 3b. a fork of the refine run from its checkpoint (what a resume, a guard rollback or `arcctl
    # fork` starts) trains on at the next step, on refine prompts, with the changed parameter
    child = tmp_path / "refine-fork"
    JobSpec(
        kind="grpo-refine",
        name="refine-fork",
        template="grpo-refine",
        run_dir=str(child),
        params={**params, "max_steps": 4, "learning_rate": params["learning_rate"] / 2},
        resume_from=CheckpointRef(run_dir=str(run), checkpoint="checkpoint-3"),
    ).write()
    proc = run_trainer("run", str(child))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert events(child)[0]["step"] == 3 and [m["step"] for m in metrics(child)] == [4]
    assert metrics(child)[0]["learning_rate"] == pytest.approx(params["learning_rate"] / 2)
    assert {c["task_id"] for c in completions(child)} <= {a.task_id for a in doc.records}

    # 4. refine evaluation of the trained checkpoint: before/after rows in compare
    rev = tmp_path / "refine-eval"
    JobSpec(
        kind="eval",
        name="refine-eval",
        template="eval",
        run_dir=str(rev),
        params={
            **common,
            "refine_dataset": str(data),
            "adapter_path": str(run / "checkpoint-3"),
            "n_predictions": 2,
            "max_new_tokens": 24,
            "batch_size": 6,
        },
    ).write()
    proc = run_trainer("run", str(rev))
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics_doc = json.loads((rev / "eval" / "metrics.json").read_text())
    assert metrics_doc["refine_before"]["aggregate"]["is_correct"] == 0.0  # --wrong-only
    preds = rundir.read_jsonl(rev / "eval" / "predictions.jsonl")
    assert len(preds) == 2 * len(doc.records)
    r = CliRunner().invoke(app, ["compare", str(rev), "--json"])
    assert r.exit_code == 0, r.output
    assert [x["experiment"] for x in json.loads(r.output)["rows"]] == [
        "refine-eval (before refine)",
        "refine-eval (after refine)",
    ]
