"""Round 6: collapse_warning events with fields the guard never writes (a hand-made or damaged
events.jsonl). A `first_step` of -1 was taken as the first warning, so the checkpoints screen
marked no checkpoint healthy (its ★: the newest one before the first warning), and a severity
of ["critical"] or "CRITICAL" was shown as a severity of its own. Steps read as jobs.rundir.json_step
(an integer >= 0) and a severity outside watch/warning/critical reads as absent ("warning"), as
docs/run-dir.md says of every field."""

from __future__ import annotations

import json

from jobs.runview import RunView
from tests.tiny_params import job_spec


def _alerts(tmp_path, *events):
    run = tmp_path / "run"
    job_spec("grpo", run, {"model_path": "tiny", "dataset": "arc1/train"}).write()
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    view = RunView(str(run))
    view.refresh()
    return view.alerts()


def _warning(**fields):
    return {"event": "collapse_warning", "time": 1.0, "rule": "repetition", "message": "m", **fields}


def test_a_negative_first_step_is_no_first_warning(tmp_path):
    alerts = _alerts(
        tmp_path,
        _warning(step=3, severity="warning", first_step=-1, steps={"warning": -1, "critical": -5}),
        _warning(rule="entropy", step=7, severity="critical", first_step=7, steps={"critical": 7}),
    )
    by_rule = {a.rule: a for a in alerts}
    assert by_rule["repetition"].first_step is None
    assert by_rule["repetition"].steps == {"warning": 3}  # the event's own step, as for older events
    # what the checkpoints screen takes as the first warning (its ★ is the newest checkpoint before)
    firsts = [a.first_step for a in alerts if a.severity in ("warning", "critical") and a.first_step is not None]
    assert min(firsts) == 7


def test_a_severity_the_guard_never_writes_reads_as_absent(tmp_path):
    alerts = _alerts(
        tmp_path,
        _warning(step=4, first_step=4, severity=["critical"], steps={"['critical']": 4, "bogus": 4}),
        _warning(rule="entropy", step=5, first_step=5, severity="CRITICAL"),
        _warning(rule="kl", step=6, first_step=6, severity="watch"),
    )
    assert [(a.rule, a.severity, a.steps) for a in alerts] == [
        ("repetition", "warning", {"warning": 4}),
        ("entropy", "warning", {"warning": 5}),
        ("kl", "watch", {"watch": 6}),
    ]
