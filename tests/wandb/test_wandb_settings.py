"""W&B settings without training: the parameters (checked at submit), their TRL mapping, a sweep's
shared group, the spec as config (a fork naming its parent, no secrets), the online/offline choice
from WANDB_MODE and the credentials wandb itself would use, and the run id kept in the run dir
across starts (real wandb, offline)."""

from __future__ import annotations

import json

import pytest

from jobs import trl_args, wandb_files
from jobs.errors import SpecError
from jobs.params import GRPOParams, SFTParams
from jobs.spec import CheckpointRef, JobSpec

from .records import config, records, run_record

pytestmark = pytest.mark.timeout(60)

BASE = dict(model_path="m", dataset="arc1/train")


def spec(run_dir, **params) -> JobSpec:
    return JobSpec(
        kind="grpo",
        name=run_dir.name,
        template="grpo",
        run_dir=str(run_dir),
        params={**BASE, "num_generations": 2, "per_device_train_batch_size": 2, **params},
    )


@pytest.mark.parametrize("value", ["team/project", "a#b", "what?", "100%", "a:b", "", " ", "x" * 129, "line\nbreak"])
def test_bad_wandb_names_are_refused_naming_the_field(value):
    for field in ("wandb_project", "wandb_entity", "wandb_group"):
        with pytest.raises(ValueError) as e:
            GRPOParams(**BASE, **{field: value})
        assert field in str(e.value) and "W&B name" in str(e.value)


def test_report_to_and_completions_table_follow_wandb():
    grpo = trl_args.grpo_args(GRPOParams(**BASE, log_completions=True), "/r", bf16=False)
    assert (grpo["report_to"], grpo["log_completions"]) == ("none", False)  # no table without W&B
    grpo = trl_args.grpo_args(GRPOParams(**BASE, wandb=True, log_completions=True), "/r", bf16=False)
    assert (grpo["report_to"], grpo["log_completions"], grpo["num_completions_to_print"]) == ("wandb", True, 0)
    assert trl_args.sft_args(SFTParams(**BASE, wandb=True), "/r", False, has_eval=False)["report_to"] == "wandb"
    # HER fine-tunes many short rounds without a W&B run of its own: never W&B
    assert trl_args.training_args(GRPOParams(**BASE, wandb=True), "/r", False)["report_to"] == "none"


def test_a_sweep_shares_one_group_and_keeps_an_explicit_one(tmp_path, monkeypatch):
    from jobs.submit import build_specs

    monkeypatch.setenv("ARCCTL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARCCTL_CONFIG_DIR", str(tmp_path / "cfg"))
    sweep = ["learning_rate=1e-6,2e-6", "lora_r=8,16", "wandb=true", "model_path=m"]
    specs = build_specs("grpo", sweep)
    groups = {s.params["wandb_group"] for s in specs}
    assert len(specs) == 4 and len(groups) == 1
    [group] = groups
    assert "lr1e-6-2e-6" in group and "8-16lora" in group and len(group) <= 128
    assert len({s.name for s in specs}) == 4  # the points keep their own names
    assert {s.params["wandb_group"] for s in build_specs("grpo", sweep + ["wandb_group=mine"])} == {"mine"}
    # W&B off: the sweep still records its group (the console selects a sweep's points by it)
    (no_wandb,) = {s.params["wandb_group"] for s in build_specs("grpo", sweep[:2] + ["model_path=m"])}
    assert "lr1e-6-2e-6" in no_wandb
    assert build_specs("grpo", ["wandb=true", "model_path=m"])[0].params["wandb_group"] is None  # one run


def test_config_is_the_spec_without_secrets_and_a_fork_names_its_parent(tmp_path):
    parent = spec(tmp_path / "parent", wandb=True)
    parent.write()
    wandb_files.write_run(parent.run_dir, wandb_files.WandbRun(id="par3nt01", project="p"))
    child = spec(tmp_path / "child", wandb=True, learning_rate=1e-6).model_copy(
        update={
            "parent": CheckpointRef(run_dir=parent.run_dir, checkpoint="checkpoint-4", name="parent"),
            "env": {"HF_TOKEN": "hf_secret"},
            "backend_options": {"token": "s3cret"},
        }
    )
    cfg = wandb_files.run_config(child)
    assert cfg["params"] == child.params and cfg["kind"] == "grpo" and cfg["name"] == "child"
    assert cfg["parent"] == {
        "run_dir": parent.run_dir,
        "checkpoint": "checkpoint-4",
        "name": "parent",
        "wandb_run_id": "par3nt01",
    }
    assert "secret" not in json.dumps(cfg) and "s3cret" not in json.dumps(cfg)


def test_a_damaged_run_record_is_one_clear_error(tmp_path):
    (tmp_path / wandb_files.RUN_FILE).write_text('{"id": "../../etc"}')
    with pytest.raises(SpecError, match=r"wandb-run.json: not a W&B run record \(id: "):
        wandb_files.read_run(tmp_path)
    (tmp_path / wandb_files.RUN_FILE).write_text("{torn")
    with pytest.raises(SpecError, match="wandb-run.json"):
        wandb_files.read_run(tmp_path)


def test_offline_runs_in_start_order(tmp_path):
    """Starts in the same second get -1, -2... (wandb's own folder names); online runs are not listed."""
    names = [
        "offline-run-20261203_170729-abc-10",
        "offline-run-20261203_170730-abc",
        "run-20261203_170729-abc",
        "offline-run-20261203_170729-abc-2",
        "offline-run-20261203_170729-abc",
        "latest-run",
        "debug.log",
    ]
    for name in names:
        (tmp_path / "wandb" / name).mkdir(parents=True)
    assert [p.rsplit("/", 1)[1] for p in wandb_files.offline_runs(str(tmp_path))] == [
        "offline-run-20261203_170729-abc",
        "offline-run-20261203_170729-abc-2",
        "offline-run-20261203_170729-abc-10",
        "offline-run-20261203_170730-abc",
    ]
    assert wandb_files.offline_runs(str(tmp_path / "none")) == []


def test_mode_follows_wandb_mode_then_credentials(no_wandb_login, monkeypatch):
    pytest.importorskip("wandb")
    from trainer.wandb_run import resolve_mode

    assert resolve_mode()[0] == "offline"  # nothing to log in with
    no_wandb_login.mkdir(exist_ok=True)
    netrc = no_wandb_login / "netrc"
    netrc.write_text(f"machine 127.0.0.1:9\n  login user\n  password {'k' * 40}\n")  # what `wandb login` writes
    netrc.chmod(0o600)
    assert resolve_mode() == ("online", "credentials found")
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert resolve_mode() == ("offline", "WANDB_MODE")  # WANDB_MODE wins over a login
    netrc.unlink()
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode()[0] == "disabled"
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert resolve_mode()[0] == "online"


def test_each_start_continues_the_run_id_kept_in_the_run_dir(tmp_path, no_wandb_login):
    pytest.importorskip("wandb")
    from trainer.wandb_run import wandb_run

    s = spec(tmp_path / "run", wandb=True, wandb_project="proj", wandb_group="grp")
    s.write()
    warnings = []
    for step in (1, 2):  # a first start, then a requeue of the same run dir
        with wandb_run(s, tmp_path / "run", True, lambda m, **kw: warnings.append(m)) as run:
            run.log({"train/global_step": step, "train/reward": step / 10})
    import wandb

    wandb.teardown()  # wandb's service writes the files after finish() returns: wait for it
    record = wandb_files.read_run(s.run_dir)
    starts = wandb_files.offline_runs(s.run_dir)
    assert len(starts) == 2 and all(f"-{record.id}" in x.rsplit("/", 1)[1] for x in starts)
    for start in starts:
        recs = records(next((tmp_path / "run" / "wandb" / start.rsplit("/", 1)[1]).glob("*.wandb")))
        meta = run_record(recs)
        assert (meta.run_id, meta.project, meta.run_group) == (record.id, "proj", "grp")
        assert config(recs)["params"] == s.params
    assert len(warnings) == 2 and "W&B offline" in warnings[0] and record.id in warnings[0]
    # off, or not the main process: no W&B run at all
    with wandb_run(spec(tmp_path / "off"), tmp_path / "off", True, warnings.append) as run:
        assert run is None
    with wandb_run(s, tmp_path / "run", False, warnings.append) as run:
        assert run is None


def _wandb_core_pids() -> list[int]:
    """wandb's service processes started by this (test) process."""
    import os

    pids = []
    for entry in os.listdir("/proc"):
        try:
            stat = open(f"/proc/{entry}/stat").read()
            cmd = open(f"/proc/{entry}/cmdline", "rb").read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and b"wandb-core" in cmd:
            pids.append(int(entry))
    return pids


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for wandb to reap it)."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_killed_wandb_never_stops_the_training(tmp_path, no_wandb_login):
    """A scheduler's SIGTERM reaches every process of the job, wandb's service too; the trainer
    must go on to save its checkpoint. The W&B callback of a real transformers Trainer, with
    wandb's real service killed between two logging steps."""
    pytest.importorskip("wandb")
    import os
    import signal
    import time

    import torch
    from transformers import Trainer, TrainingArguments
    from transformers.integrations import WandbCallback

    from trainer.wandb_run import wandb_run

    s = spec(tmp_path / "run", wandb=True)
    s.write()
    trainer = Trainer(
        model=torch.nn.Linear(2, 1),
        args=TrainingArguments(output_dir=str(tmp_path / "run"), report_to="wandb", use_cpu=True, disable_tqdm=True),
    )
    warnings = []
    with wandb_run(s, tmp_path / "run", True, lambda m, **kw: warnings.append(m), trainer):
        [cb] = [c for c in trainer.callback_handler.callbacks if isinstance(c, WandbCallback)]
        assert type(cb).__name__ == "GuardedWandbCallback"
        assert trainer.callback_handler.callbacks[-1] is cb  # sees what every other callback logs
        handler, args, state, control = trainer.callback_handler, trainer.args, trainer.state, trainer.control
        handler.on_train_begin(args, state, control)
        state.global_step = 1
        handler.on_log(args, state, control, logs={"loss": 1.0})
        pids = _wandb_core_pids()
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        while any(_alive(pid) for pid in pids):
            time.sleep(0.05)
        state.global_step = 2
        handler.on_log(args, state, control, logs={"loss": 0.5})  # no exception
        handler.on_log(args, state, control, logs={"loss": 0.25})
        assert "wandb" not in args.report_to  # TRL's completions table stops too
    assert [w for w in warnings if "W&B stopped logging" in w] and [
        w for w in warnings if "did not finish cleanly" in w
    ]
    # the next W&B run of this process (a rollback child) starts a service of its own
    (tmp_path / "child").mkdir()
    with wandb_run(spec(tmp_path / "child", wandb=True), tmp_path / "child", True, warnings.append) as child:
        child.log({"train/global_step": 1})
    assert len(wandb_files.offline_runs(str(tmp_path / "child"))) == 1
