"""`arcctl demo`: clear messages without the trainer extras or without a demo run, and (slow) a
real short training of the tiny model on CPU through the local backend."""
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


def test_demo_without_trainer_extras_says_what_to_install(arc_home, monkeypatch):
    monkeypatch.setattr(demo_cmd, "missing_extras", lambda: ["torch", "trl"])
    res = CliRunner().invoke(app, ["demo", "--no-open"])
    assert res.exit_code == 2
    assert "torch, trl missing" in res.output and "pip install -e '.[train]'" in res.output
    assert not (arc_home / "runs").exists()  # nothing launched


def test_demo_no_train_without_a_demo_run(arc_home):
    res = CliRunner().invoke(app, ["demo", "--no-train", "--no-open"])
    assert res.exit_code == 2 and "no demo run yet" in res.output


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_demo_trains_the_tiny_model_for_real(arc_home):
    if demo_cmd.missing_extras():
        pytest.skip("trainer extras not installed")
    out = subprocess.run([ARCCTL, "demo", "--no-open", "--steps", "2"], capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "ARCCTL_HOME": str(arc_home)})
    assert out.returncode == 0, out.stderr
    run_dir = Path(out.stdout.split("run dir: ")[1].split()[0])
    spec = json.loads((run_dir / "spec.json").read_text())
    assert spec["params"]["max_steps"] == 2 and spec["resources"]["gpus"] == 0
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and not (run_dir / "exit_code").exists():
        time.sleep(1)
    assert (run_dir / "exit_code").read_text().strip() == "0", (run_dir / "stderr.log").read_text()[-2000:]
    steps = [json.loads(x)["step"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 2
    assert (run_dir / "completions.jsonl").stat().st_size > 0
    # and the dashboard opens on it: the newest demo run is what --no-train finds
    assert demo_cmd.newest_demo_run() == str(run_dir)
