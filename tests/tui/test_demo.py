"""`arcctl demo`: clear messages without the trainer extras or without a demo run, and (slow) real
short trainings of the tiny model on CPU through the local backend: `--no-warm-start` (one GRPO run),
and the default: an SFT job, then (submitted by the chain's supervisor) a GRPO job from its final
model on the in-reach ARC tasks, with the SFT run as its parent."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arcctl.cli import demo_cmd
from arcctl.cli.main import app

ARCCTL = str(Path(sys.executable).parent / "arcctl")


# Every wait of a real demo test ends within this many seconds of its start: inside the test's own
# 600 s timeout, so a slow run fails with its stderr tail instead of being killed by pytest-timeout.
BUDGET_S = 540


def test_demo_without_trainer_extras_says_what_to_install(arc_home, monkeypatch):
    monkeypatch.setattr(demo_cmd, "missing_extras", lambda: ["torch", "trl"])
    res = CliRunner().invoke(app, ["demo", "--no-open"])
    assert res.exit_code == 2
    assert "torch, trl missing" in res.output and "pip install -e '.[train]'" in res.output
    assert not (arc_home / "runs").exists()  # nothing launched


def test_demo_no_train_without_a_demo_run(arc_home):
    res = CliRunner().invoke(app, ["demo", "--no-train", "--no-open"])
    assert res.exit_code == 2 and "no demo run yet" in res.output


def test_demo_params_are_valid_for_their_kinds(arc_home):
    from jobs.submit import build_specs

    sft = build_specs("sft", ["model_path=/m", "max_steps=3", *demo_cmd.SFT_PARAMS], "local", name="d-sft")[0]
    assert sft.params["use_lora"] is False and sft.params["synthetic_tasks"] > 0 and sft.resources.gpus == 0
    grpo = build_specs("grpo", ["model_path=/m", *demo_cmd.GRPO_PARAMS], "local", name="d-grpo")[0]
    assert grpo.params["task_ids"] == list(demo_cmd.IN_REACH) and grpo.params["dataset"] == "arc1/train"


def test_chain_submits_nothing_when_sft_failed(arc_home, tmp_path):
    from arcctl.cli import demo_chain
    from jobs.registry import Registry

    sft = tmp_path / "sft"
    sft.mkdir()
    (sft / "exit_code").write_text("1\n")
    assert demo_chain.main(["--sft-run-dir", str(sft), "--name", "g", "--timeout-s", "5"]) == 1
    assert Registry().list() == []


def test_chain_gives_up_after_its_timeout(arc_home, tmp_path):
    from arcctl.cli import demo_chain

    t0 = time.monotonic()
    assert demo_chain.wait_for_exit(tmp_path, timeout_s=0.3, poll_s=0.05) is None
    assert time.monotonic() - t0 < 3


def run_demo(arc_home: Path, *args: str) -> tuple[Path, dict]:
    """`arcctl demo --no-open ARGS` for real (skipped without the trainer extras): the first run
    dir it prints and that run's spec."""
    if demo_cmd.missing_extras():
        pytest.skip("trainer extras not installed")
    out = subprocess.run(
        [ARCCTL, "demo", "--no-open", *args],
        capture_output=True,
        text=True,
        timeout=BUDGET_S / 2,
        env={**__import__("os").environ, "ARCCTL_HOME": str(arc_home)},
    )
    assert out.returncode == 0, out.stderr
    run_dir = Path(out.stdout.split("run dir: ")[1].split()[0])
    return run_dir, json.loads((run_dir / "spec.json").read_text())


def assert_trained_two_steps(run_dir: Path, deadline: float) -> None:
    """The job ends (by `deadline`) with exit code 0 after logging 2 steps and some completions."""
    while time.monotonic() < deadline and not (run_dir / "exit_code").exists():
        time.sleep(1)
    assert (run_dir / "exit_code").read_text().strip() == "0", (run_dir / "stderr.log").read_text()[-2000:]
    steps = [json.loads(x)["step"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 2
    assert (run_dir / "completions.jsonl").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_demo_without_warm_start_trains_the_untrained_model(arc_home):
    start = time.monotonic()
    run_dir, spec = run_demo(arc_home, "--no-warm-start", "--steps", "2")
    assert spec["params"]["max_steps"] == 2 and spec["resources"]["gpus"] == 0
    assert_trained_two_steps(run_dir, start + BUDGET_S)
    # and the dashboard opens on it: the newest demo run is what --no-train finds
    assert demo_cmd.newest_demo_run() == str(run_dir)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_demo_chains_sft_then_grpo_for_real(arc_home):
    start = time.monotonic()
    sft_dir, spec = run_demo(arc_home, "--sft-steps", "2", "--steps", "2")
    assert spec["kind"] == "sft" and spec["params"]["max_steps"] == 2 and spec["resources"]["gpus"] == 0
    assert spec["params"]["use_lora"] is False
    # the supervisor submits the GRPO job once SFT is done
    from jobs.registry import Registry

    deadline = start + BUDGET_S
    grpo = None
    while time.monotonic() < deadline and grpo is None:
        grpo = next((j for j in Registry().list(with_spec=True) if j.spec().kind == "grpo"), None)
        time.sleep(1)
    assert (sft_dir / "exit_code").read_text().strip() == "0", (sft_dir / "stderr.log").read_text()[-2000:]
    assert grpo is not None, (arc_home / "demo-chain.log").read_text() if (arc_home / "demo-chain.log").exists() else ""
    gspec = grpo.spec()
    assert gspec.params["model_path"] == str(sft_dir / "final")
    assert gspec.parent is not None and gspec.parent.run_dir == str(sft_dir) and gspec.parent.checkpoint == "final"
    assert grpo.parent == str(sft_dir)  # the registry row the dashboard lists
    assert gspec.params["task_ids"] == list(demo_cmd.IN_REACH) and gspec.params["max_steps"] == 2
    run_dir = Path(gspec.run_dir)
    assert_trained_two_steps(run_dir, deadline)
    # and --no-train reopens the newest demo run: the GRPO one
    assert demo_cmd.newest_demo_run() == str(run_dir)
