"""Preemption: SIGTERM mid-run saves a checkpoint and stops cleanly; the restarted job skips an
invalid checkpoint, resumes from the valid one and continues at the next step in the same files."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from jobs import rundir

from .helpers import REPO, env, events, grpo_spec, metrics, run_trainer, trainer_cmd

pytestmark = [pytest.mark.slow, pytest.mark.timeout(500)]
MAX_STEPS = 8


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, tiny_model_dir, small_dataset):
    run_dir = tmp_path_factory.mktemp("sig") / "run"
    grpo_spec(run_dir, tiny_model_dir, dataset=str(small_dataset), max_steps=MAX_STEPS, save_steps=100).write()
    proc = subprocess.Popen(
        trainer_cmd("run", str(run_dir)), cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 180
    # the first metrics row, not the file: the file may be opened before the trainer's stop
    # handlers are in place, and a SIGTERM then kills it (a loaded CI machine got there)
    metrics_file = run_dir / rundir.METRICS
    while time.time() < deadline and not (metrics_file.exists() and b'"step"' in metrics_file.read_bytes()):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=180)
    return run_dir, proc.returncode, err


def test_sigterm_saves_a_valid_checkpoint_and_stops(interrupted):
    run_dir, rc, err = interrupted
    assert rc == 0, err[-3000:]
    evs = events(run_dir)
    stop = evs[-1]
    assert stop["event"] == rundir.EV_STOPPED and stop["reason"] == "signal" and stop["signal"] == "SIGTERM"
    assert 1 <= stop["step"] < MAX_STEPS
    ck = rundir.newest_valid_checkpoint(str(run_dir))
    assert ck is not None and ck.step == stop["step"]
    assert [m["step"] for m in metrics(run_dir)][-1] == stop["step"]


def test_restart_skips_invalid_checkpoint_and_continues(interrupted):
    run_dir, _, _ = interrupted
    stopped_at = events(run_dir)[-1]["step"]
    broken = run_dir / "checkpoint-99"
    broken.mkdir()
    (broken / "trainer_state.json").write_text("{not json")
    (broken / "adapter_model.safetensors").write_bytes(b"")
    proc = run_trainer("run", str(run_dir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    evs = events(run_dir)
    new = evs[[i for i, e in enumerate(evs) if e["event"] == "started"][-1] - 2 :]
    warning = new[0]
    assert warning["event"] == "warning" and "checkpoint-99" in warning["message"]
    # the invalid checkpoint past the one resumed from goes aside: the run's own save of step 99
    # would write into it
    moved = new[1]
    assert moved["event"] == "resumed" and moved["moved_checkpoints"] == ["checkpoint-99"]
    assert (run_dir / moved["branch"] / "checkpoint-99").is_dir() and not broken.exists()
    started = new[2]
    assert started["step"] == stopped_at
    assert started["resume_from"] == str(run_dir / f"checkpoint-{stopped_at}")
    assert evs[-1]["event"] == "stopped" and evs[-1]["reason"] == "completed" and evs[-1]["step"] == MAX_STEPS
    # one metrics line per step, across both processes, in the same file
    assert [m["step"] for m in metrics(run_dir)] == list(range(1, MAX_STEPS + 1))
    steps = sorted({c["step"] for c in rundir.read_jsonl(run_dir / rundir.COMPLETIONS)})
    assert steps == list(range(1, MAX_STEPS + 1))
    assert (
        json.loads((run_dir / f"checkpoint-{MAX_STEPS}" / "trainer_state.json").read_text())["global_step"] == MAX_STEPS
    )
