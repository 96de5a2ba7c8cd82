"""The run screen opens on the metrics a run of its kind logs: SFT runs have no reward or KL."""

from __future__ import annotations

import json

from arcctl.tui.screens.run import RunScreen
from jobs.runview import RunView


def _run(tmp_path, kind):
    run = tmp_path / kind
    run.mkdir()
    (run / "spec.json").write_text(json.dumps({"kind": kind, "name": f"{kind}-run"}))
    return RunView(str(run))


def test_sft_run_opens_on_loss_charts(tmp_path):
    assert RunScreen(_run(tmp_path, "sft")).chosen[0] == "loss"


def test_grpo_run_opens_on_reward_charts(tmp_path):
    assert RunScreen(_run(tmp_path, "grpo")).chosen[0] == "reward"
