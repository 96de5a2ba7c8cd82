"""Collapse rules judge RL runs: an SFT run whose entropy and loss fall (as they should) raises nothing."""

from __future__ import annotations

import json

from jobs.health import diagnose
from jobs.runview import RunView


def _write(run, kind):
    run.mkdir()
    (run / "spec.json").write_text(json.dumps({"kind": kind, "name": run.name, "params": {}}))
    rows = []
    for step in range(1, 201):  # entropy and grad_norm collapse, then a spike: alarming for GRPO
        ent = 2.5 if step < 100 else 0.2
        rows.append(
            {
                "step": step,
                "loss": 8.0 / step,
                "entropy": ent,
                "grad_norm": 50.0 if step > 190 else 0.5,
                "kl": 5.0 if step > 190 else 0.01,
            }
        )
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_sft_run_is_not_judged(tmp_path):
    _write(tmp_path / "sft", "sft")
    rep = diagnose(str(tmp_path / "sft"))
    assert rep.alerts == [] and any("GRPO" in n for n in rep.notes)
    view = RunView(str(tmp_path / "sft"))
    view.refresh()
    assert view.alerts() == []


def test_same_trace_in_a_grpo_run_is_judged(tmp_path):
    _write(tmp_path / "grpo", "grpo")
    assert diagnose(str(tmp_path / "grpo")).alerts
