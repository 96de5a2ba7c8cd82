"""The run view shows each alert once, at the highest severity the guard reported for it."""

from __future__ import annotations

from tests.tui.guard_events import collapse_warning, view_of_events


def test_alert_keeps_highest_severity(tmp_path):
    view = view_of_events(
        tmp_path / "run",
        [
            collapse_warning(40, "kl_spike", "watch", 40, "w"),
            collapse_warning(45, "kl_spike", "critical", 40, "c"),
            collapse_warning(46, "kl_spike", "warning", 40, "late"),
            collapse_warning(50, "truncation", "warning", 50, "t"),
        ],
    )
    got = {(a.rule, a.first_step): (a.severity, a.message) for a in view.alerts()}
    assert got[("kl_spike", 40)] == ("critical", "c")
    assert got[("truncation", 50)] == ("warning", "t")
    assert len(view.alerts()) == 2
