"""The launch path with the real trainer: `arcctl submit grpo` on the local profile runs
`python -m trainer run <run_dir>/spec.json` on the project's tiny model (CPU), `arcctl ls` sees it
finish, and `arcctl fork` continues from its checkpoint with a changed parameter."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.foundation.conftest import run_cli, wait_for

TINY = ["-p", "dataset=synthetic:4", "-p", "num_generations=2", "-p", "max_steps=2", "-p", "n_jobs=1",
        "-p", "max_completion_length=32", "-p", "per_device_train_batch_size=2",
        "-p", "gradient_accumulation_steps=1", "-p", "save_steps=1", "-p", "resources.gpus=0"]


def _job(jid: str) -> dict:
    return {j["id"]: j for j in json.loads(run_cli("ls", "--json", check=True).stdout)}[jid]


def _finished(jid: str):
    j = _job(jid)
    return j if j["state"] in ("completed", "failed", "cancelled") else None


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_submit_and_fork_real_trainer(home, tiny_model_dir):
    [jid] = run_cli("submit", "grpo", "-p", f"model_path={tiny_model_dir}", *TINY, "-q", check=True).stdout.split()
    job = wait_for(lambda: _finished(jid), timeout=300, every=1)
    rd = Path(job["run_dir"])
    assert job["state"] == "completed" and job["exit_code"] == 0, (rd / "stderr.log").read_text()[-2000:]
    assert [m["step"] for m in map(json.loads, (rd / "metrics.jsonl").read_text().splitlines())] == [1, 2]
    assert (rd / "checkpoint-2").is_dir()

    [child] = run_cli("fork", jid, "-p", "learning_rate=1e-6", "-p", "max_steps=3", check=True).stdout.split()[:1]
    cj = wait_for(lambda: _finished(child), timeout=300, every=1)
    crd = Path(cj["run_dir"])
    assert cj["state"] == "completed", (crd / "stderr.log").read_text()[-2000:]
    events = [json.loads(l) for l in (crd / "events.jsonl").read_text().splitlines()]
    started = next(e for e in events if e["event"] == "started")
    assert started["step"] == 2  # continued from the parent's checkpoint-2
    assert [m["step"] for m in map(json.loads, (crd / "metrics.jsonl").read_text().splitlines())] == [3]
    assert json.loads((crd / "spec.json").read_text())["params"]["learning_rate"] == 1e-6
