"""A real GRPO run of the tiny model on real ARC tasks, through `python -m trainer run RUN_DIR`."""

from __future__ import annotations

import json
import re

import pytest

from jobs import rundir
from jobs.records import check_run_dir
from jobs.spec import CheckpointRef, JobSpec

from .helpers import completions, events, grpo_spec, metrics, run_trainer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

TRL_KEYS = ["reward", "reward_std", "frac_reward_zero_std", "kl", "entropy", "grad_norm", "learning_rate", "loss"]
TRL_KEYS += ["completions/mean_length", "completions/clipped_ratio"]
ARC_KEYS = [
    "arc/reward_max",
    "arc/reward_min",
    "arc/truncated_ratio",
    "arc/solved_ratio",
    "arc/truncated_reward_mean",
    "arc/unique_token_ratio",
    "arc/ngram4_repeat_max",
    "arc/truncated_ngram3_unique_ratio",
    "arc/error_parse",
    "arc/error_none",
    "arc/time_generation_s",
    "arc/time_reward_s",
    "arc/time_optimization_s",
]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_model_dir, small_dataset):
    run_dir = tmp_path_factory.mktemp("grpo") / "run"
    spec = grpo_spec(run_dir, tiny_model_dir, dataset=str(small_dataset), max_steps=3, save_steps=2)
    spec.write()
    proc = run_trainer("run", str(run_dir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir.parent / "trainer-stdout.txt").write_text(proc.stdout)
    return run_dir, spec


def test_stdout_line_has_progress_speed_and_eta(finished_run):
    run_dir, _ = finished_run
    lines = [ln for ln in (run_dir.parent / "trainer-stdout.txt").read_text().splitlines() if ln.startswith("step ")]
    assert [ln.split()[1] for ln in lines] == ["1/3", "2/3", "3/3"]
    assert lines[0].startswith("step 1/3 (33%)  -  ETA -  reward=")
    assert re.match(r"step 3/3 \(100%\)  [\d.]+ (st/s|s/st)  ETA 0s  reward=", lines[2]), lines[2]


def test_metrics_have_trl_and_arc_names_every_step(finished_run):
    run_dir, _ = finished_run
    rows = metrics(run_dir)
    assert [r["step"] for r in rows] == [1, 2, 3]
    for r in rows:
        missing = [k for k in TRL_KEYS + ARC_KEYS if k not in r]
        assert not missing, missing
        # our truncation flag and TRL's clipped ratio come from the same rule
        assert r["arc/truncated_ratio"] == pytest.approx(r["completions/clipped_ratio"])
        assert r["arc/reward_min"] <= r["reward"] <= r["arc/reward_max"]
        assert r["arc/time_generation_s"] > 0 and r["arc/time_optimization_s"] > 0
        shares = [v for k, v in r.items() if k.startswith("arc/error_")]
        assert sum(shares) == pytest.approx(1.0)  # every completion has exactly one kind (or none)


def test_every_completion_recorded_against_its_task(finished_run, small_dataset):
    run_dir, spec = finished_run
    rows = completions(run_dir)
    p = spec.typed_params()
    per_step = p.per_device_train_batch_size * p.gradient_accumulation_steps
    assert len(rows) == 3 * per_step
    assert sorted({r["step"] for r in rows}) == [1, 2, 3]
    task_ids = set(json.loads(small_dataset.read_text()))
    for r in rows:
        assert r["task_id"] in task_ids
        assert sorted(r["augmentation"]["color_map"]) == list(range(10))
        assert 0 < r["n_tokens"] <= p.max_completion_length
        if r["truncated"]:
            assert r["n_tokens"] == p.max_completion_length
        # arc-v2-no-pixel-score: 0 for any error, at least 1 for a program that ran
        assert (r["reward"] == 0) == (r["error"] is not None)
        assert set(r["diag"]) >= {"unique_token_ratio", "ngram3_repeat_max", "ngram4_repeat_max"}
        assert isinstance(r["completion"], str)
    # a group of num_generations completions answers the same prompt
    by_step = {}
    for r in rows:
        by_step.setdefault(r["step"], []).append((r["task_id"], json.dumps(r["augmentation"])))
    for group in by_step.values():
        assert all(group[i] == group[i + 1] for i in range(0, len(group), p.num_generations))


def test_events_and_checkpoints(finished_run):
    run_dir, spec = finished_run
    evs = events(run_dir)
    assert evs[0]["event"] == rundir.EV_STARTED and evs[0]["step"] == 0
    saved = [e for e in evs if e["event"] == rundir.EV_CHECKPOINT]
    assert [e["step"] for e in saved] == [2, 3]
    assert evs[-1]["event"] == rundir.EV_STOPPED and evs[-1]["reason"] == "completed"
    assert evs[-1]["step"] == 3
    ck = rundir.pick_checkpoint(str(run_dir))
    assert ck is not None and ck.step == 3 and ck.path == saved[-1]["path"]
    assert (run_dir / "checkpoint-3" / "adapter_model.safetensors").exists()
    assert JobSpec.read(run_dir).params == spec.params
    assert check_run_dir(str(run_dir)) == []  # every record the trainer wrote matches jobs.records


def test_fork_from_a_checkpoint_continues_at_the_next_step(finished_run, tmp_path):
    parent, spec = finished_run
    child = tmp_path / "child"
    # a fork that changes the learning rate (what a guard rollback does) must train with the new one,
    # not the one stored in the parent's scheduler state
    params = {**spec.params, "learning_rate": spec.params["learning_rate"] / 2}
    fork = spec.model_copy(
        update={
            "run_dir": str(child),
            "name": "child",
            "params": params,
            "resume_from": CheckpointRef(run_dir=str(parent), checkpoint="checkpoint-2"),
        }
    )
    fork.write()
    proc = run_trainer("run", str(child / "spec.json"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    evs = events(child)
    assert evs[0]["event"] == "started" and evs[0]["step"] == 2
    assert evs[0]["resume_from"] == str(parent / "checkpoint-2")
    assert [m["step"] for m in metrics(child)] == [3]
    assert metrics(child)[0]["learning_rate"] == pytest.approx(params["learning_rate"])
    assert metrics(parent)[-1]["learning_rate"] == pytest.approx(spec.params["learning_rate"])
    assert rundir.newest_valid_checkpoint(str(child)).step == 3
