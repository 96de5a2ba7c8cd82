"""The launch path with the real trainer: `arcctl submit grpo` on the local profile runs
`python -m trainer run <run_dir>/spec.json` on the project's tiny model (CPU), `arcctl ls` sees it
finish, and `arcctl fork` continues from its checkpoint with a changed parameter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_jobs.conftest import run_cli, wait_for
from tests.tiny_params import tiny_grpo_options

TINY = tiny_grpo_options(max_steps=2, max_completion_length=32, save_steps=1, **{"resources.gpus": 0})


def _job(jid: str) -> dict:
    return {j["id"]: j for j in json.loads(run_cli("ls", "--json", check=True).stdout)}[jid]


def _finished(jid: str):
    j = _job(jid)
    return j if j["state"] in ("completed", "failed", "cancelled") else None


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_submit_and_fork_real_trainer(home, tiny_model_dir):
    [jid] = run_cli("submit", "grpo", "-p", f"model_path={tiny_model_dir}", *TINY, "-q", check=True).stdout.split()
    job = wait_for(lambda: _finished(jid), timeout=270, interval=1)  # two waits within the 600 s timeout
    rd = Path(job["run_dir"])
    assert job["state"] == "completed" and job["exit_code"] == 0, (rd / "stderr.log").read_text()[-2000:]
    assert [m["step"] for m in map(json.loads, (rd / "metrics.jsonl").read_text().splitlines())] == [1, 2]
    assert (rd / "checkpoint-2").is_dir()

    [child] = run_cli("fork", jid, "-p", "learning_rate=1e-6", "-p", "max_steps=3", check=True).stdout.split()[:1]
    cj = wait_for(lambda: _finished(child), timeout=270, interval=1)
    crd = Path(cj["run_dir"])
    assert cj["state"] == "completed", (crd / "stderr.log").read_text()[-2000:]
    events = [json.loads(l) for l in (crd / "events.jsonl").read_text().splitlines()]
    started = next(e for e in events if e["event"] == "started")
    assert started["step"] == 2  # continued from the parent's checkpoint-2
    assert [m["step"] for m in map(json.loads, (crd / "metrics.jsonl").read_text().splitlines())] == [3]
    assert json.loads((crd / "spec.json").read_text())["params"]["learning_rate"] == 1e-6


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_cancel_checkpoints_the_real_trainer_and_resume_continues(home, tiny_model_dir):
    """Local backend: `arcctl cancel` → SIGTERM reaches the trainer → it saves a checkpoint at the end
    of its step and exits 0 → `arcctl resume` continues from that checkpoint; no step is lost."""
    pairs = [v for v in TINY[1::2] if not v.startswith(("max_steps=", "save_steps="))]
    args = [a for v in pairs for a in ("-p", v)]
    [jid] = run_cli(
        "submit",
        "grpo",
        "-p",
        f"model_path={tiny_model_dir}",
        *args,
        "-p",
        "max_steps=6",
        "-p",
        "save_steps=100",
        "-q",
        check=True,
    ).stdout.split()
    rd = Path(_job(jid)["run_dir"])

    def one_step():
        assert not _finished(jid), (rd / "stderr.log").read_text()[-2000:]
        return (rd / "metrics.jsonl").exists() and (rd / "metrics.jsonl").read_text().count("\n") >= 1

    wait_for(one_step, timeout=200, interval=0.5)  # the three waits fit the 600 s timeout
    run_cli("cancel", jid, check=True)
    job = wait_for(lambda: _finished(jid), timeout=90, interval=0.5)
    events = [json.loads(l) for l in (rd / "events.jsonl").read_text().splitlines()]
    stop = events[-1]
    assert stop["event"] == "stopped" and stop["reason"] == "signal" and stop["signal"] == "SIGTERM", events[-3:]
    assert job["state"] == "cancelled" and job["exit_code"] == 0, job
    assert 1 <= stop["step"] < 6 and (rd / f"checkpoint-{stop['step']}" / "trainer_state.json").exists()

    out = run_cli("resume", jid, check=True).stdout
    assert f"resumed from checkpoint-{stop['step']}" in out
    job = wait_for(lambda: (j := _finished(jid)) and j["restarts"] == 1 and j, timeout=270, interval=1)
    assert job["state"] == "completed" and job["exit_code"] == 0, (rd / "stderr.log").read_text()[-2000:]
    events = [json.loads(l) for l in (rd / "events.jsonl").read_text().splitlines()]
    started = [e for e in events if e["event"] == "started"][-1]
    assert started["step"] == stop["step"] and started["resume_from"] == str(rd / f"checkpoint-{stop['step']}")
    assert [m["step"] for m in map(json.loads, (rd / "metrics.jsonl").read_text().splitlines())] == list(range(1, 7))
