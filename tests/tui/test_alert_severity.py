"""The run view shows each alert once, at the highest severity the guard reported for it."""

from __future__ import annotations

import json

from jobs.runview import RunView


def test_alert_keeps_highest_severity(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    events = [
        {
            "event": "collapse_warning",
            "step": 40,
            "rule": "kl_spike",
            "severity": "watch",
            "first_step": 40,
            "message": "w",
        },
        {
            "event": "collapse_warning",
            "step": 45,
            "rule": "kl_spike",
            "severity": "critical",
            "first_step": 40,
            "message": "c",
        },
        {
            "event": "collapse_warning",
            "step": 46,
            "rule": "kl_spike",
            "severity": "warning",
            "first_step": 40,
            "message": "late",
        },
        {
            "event": "collapse_warning",
            "step": 50,
            "rule": "truncation",
            "severity": "warning",
            "first_step": 50,
            "message": "t",
        },
    ]
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    view = RunView(str(run))
    view.refresh()
    got = {(a.rule, a.first_step): (a.severity, a.message) for a in view.alerts()}
    assert got[("kl_spike", 40)] == ("critical", "c")
    assert got[("truncation", 50)] == ("warning", "t")
    assert len(view.alerts()) == 2
