"""The real trainer (tiny model, CPU) with `wandb = true` on a host where W&B cannot be reached (a
key, but the server is a closed loopback port): the run falls back to offline, and TRL's own
callback logs into it inside the run dir; its files hold the spec as config and every step's
metrics. A resume continues the same W&B run id (WANDB_MODE=offline respected), and `arcctl
wandb-sync` hands both starts to `wandb sync`. Skipped only where the `wandb` package is not
installed."""

from __future__ import annotations

import subprocess

import pytest

from jobs import wandb_files
from jobs.fork import resume_spec
from tests.cli_jobs.conftest import run_cli
from tests.trainer_train.helpers import REPO, env, events, grpo_spec, metrics, trainer_cmd

from .records import config, history, records, run_record

pytest.importorskip("wandb")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SECRET = "hf_secret_value_never_in_wandb"


def _train(run_dir, **extra_env) -> None:
    proc = subprocess.run(
        trainer_cmd("run", str(run_dir)),
        cwd=REPO,
        env={**env(), **extra_env},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_offline_run_has_config_metrics_and_keeps_its_id_on_resume(tmp_path, tiny_model_dir, no_wandb_login):
    run_dir = tmp_path / "wb"
    spec = grpo_spec(
        run_dir,
        tiny_model_dir,
        max_steps=1,
        save_steps=1,
        gradient_accumulation_steps=1,
        wandb=True,
        wandb_project="arc-tests",
        wandb_group="lr-sweep",
        log_completions=True,
    )
    spec.model_copy(update={"env": {"HF_TOKEN": SECRET}}).write()
    _train(run_dir, WANDB_API_KEY="k" * 40, WANDB_INIT_TIMEOUT="2")  # online, but nothing answers
    run = wandb_files.read_run(run_dir)
    assert run is not None and (run.project, run.group) == ("arc-tests", "lr-sweep")
    warned = [e["message"] for e in events(run_dir) if e["event"] == "warning"]
    assert any("W&B could not start online" in m and run.id in m for m in warned), warned

    # `arcctl resume`: the same run dir from checkpoint-1, one more step (WANDB_MODE respected)
    resumed = resume_spec(str(run_dir))
    resumed.model_copy(update={"params": {**resumed.params, "max_steps": 2}}).write()
    _train(run_dir, WANDB_MODE="offline")

    starts = wandb_files.offline_runs(str(run_dir))
    assert [s.rsplit("-", 1)[1] for s in starts] == [run.id, run.id]  # one W&B run, two starts
    files = [run_dir / "wandb" / s.rsplit("/", 1)[1] / f"run-{run.id}.wandb" for s in starts]
    recs = [records(f) for f in files]
    for r in recs:
        meta = run_record(r)
        assert (meta.run_id, meta.project, meta.run_group, meta.display_name) == (run.id, "arc-tests", "lr-sweep", "wb")

    cfg = config(recs[0])
    assert cfg["kind"] == "grpo" and cfg["name"] == "wb" and cfg["params"] == resumed.params | {"max_steps": 1}
    assert cfg["params"]["wandb_group"] == "lr-sweep" and "env" not in cfg
    assert cfg["learning_rate"] == spec.params["learning_rate"]  # TRL's TrainingArguments, same run
    assert config(recs[1])["resume_from"]["checkpoint"] == "checkpoint-1"
    assert all(SECRET.encode() not in f.read_bytes() for f in files)

    # every step of metrics.jsonl, logged by TRL under its train/ prefix, first start then second
    rows = {r["step"]: r for r in metrics(run_dir)}
    logged = [h for r in recs for h in history(r) if "train/reward" in h]
    assert [h["train/global_step"] for h in logged] == sorted(rows) == [1, 2]
    for h in logged:
        row = rows[h["train/global_step"]]
        for key in ("reward", "kl", "completions/mean_length", "arc/truncated_ratio"):
            assert h[f"train/{key}"] == pytest.approx(row[key]), key
    # log_completions: TRL's table of the step's completions (2 per step) in each start
    for r in recs:
        tables = {(h["completions/_type"], h["completions/nrows"]) for h in history(r) if "completions/_type" in h}
        assert tables == {("table-file", 2)}

    # `arcctl wandb-sync RUN` runs the real `wandb sync` on both starts (--dry-run: uploads nothing)
    res = run_cli("wandb-sync", str(run_dir), "--dry-run", check=True)
    assert "Would sync 2 run(s)" in res.stderr and all(s.rsplit("/", 1)[1] in res.stderr for s in starts)


def test_sft_logs_through_trl_too(tmp_path, tiny_model_dir, no_wandb_login, monkeypatch):
    """SFT, in this process: the same W&B run set-up, and what our callbacks add to a step's logs
    (tokens_per_second) reaches W&B as well."""
    from tests.eval.test_sft import _spec
    from trainer import sft

    monkeypatch.setenv("WANDB_MODE", "offline")
    run_dir = tmp_path / "sft"
    spec = _spec(run_dir, tiny_model_dir, synthetic_tasks=8, max_steps=3, save_steps=100, wandb=True)
    spec.write()
    assert sft.main(spec) == 0
    import wandb

    wandb.teardown()  # in this process wandb's service writes the files after finish(): wait for it
    run = wandb_files.read_run(run_dir)
    [start] = wandb_files.offline_runs(str(run_dir))
    recs = records(run_dir / "wandb" / start.rsplit("/", 1)[1] / f"run-{run.id}.wandb")
    assert config(recs)["kind"] == "sft" and config(recs)["params"] == spec.params
    rows = {r["step"]: r for r in metrics(run_dir) if "loss" in r}
    logged = {h["train/global_step"]: h for h in history(recs) if "train/loss" in h}
    assert sorted(logged) == sorted(rows) == [1, 2, 3]
    for step in (2, 3):
        assert logged[step]["train/tokens_per_second"] == pytest.approx(rows[step]["tokens_per_second"])
        assert logged[step]["train/loss"] == pytest.approx(rows[step]["loss"])
