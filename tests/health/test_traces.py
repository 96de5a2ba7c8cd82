"""The detectors on whole run traces: healthy runs raise no warning; each collapse kind is caught
by its own rule, at warning level, after the signs start and before the smoothed reward has fallen
to half its best. Traces are SIMULATED (see make_traces.py) unless named real_*."""

from __future__ import annotations

import shutil

import pytest

from jobs.health import WARNING, diagnose, severity_level
from jobs.rundir import read_jsonl

from .conftest import add_checkpoints, trace_meta, trace_names

pytestmark = pytest.mark.timeout(120)


def reward_half_step(rows: list[dict], window: int = 20, skip: int = 23) -> int | None:
    """First step where the rolling-mean reward is at most half its best so far (same window as
    the detectors' smoothing)."""
    vals, best = [], None
    for i, row in enumerate(rows):
        vals.append(row["reward"])
        if len(vals) > window:
            vals.pop(0)
        if i < skip:
            continue
        m = sum(vals) / len(vals)
        best = m if best is None else max(best, m)
        if m <= best / 2:
            return row["step"]
    return None


@pytest.mark.parametrize("name", trace_names())
def test_trace(traces_root, name):
    run_dir = traces_root / name
    meta = trace_meta(run_dir)
    report = diagnose(str(run_dir))
    expected = meta["expected_rule"]
    if expected is None:
        assert severity_level(report.status) < WARNING, [a.to_dict() for a in report.alerts]
        assert report.first_warning_step is None
        return
    assert report.status == "critical", [a.to_dict() for a in report.alerts]
    alert = next((a for a in report.alerts if a.rule == expected), None)
    assert alert is not None, f"{expected} not raised; got {[a.rule for a in report.alerts]}"
    warned = alert.steps.get("warning")
    assert warned is not None, alert.to_dict()
    for rule in meta.get("also_warns", []):
        other = next((a for a in report.alerts if a.rule == rule), None)
        assert other is not None and "warning" in other.steps, f"{rule}: {[a.to_dict() for a in report.alerts]}"
    if meta.get("warning_by") is not None:
        assert warned <= meta["warning_by"]
    if meta.get("reward_half_check") is False:
        return
    half = reward_half_step(read_jsonl(run_dir / "metrics.jsonl"))
    assert half is not None, "the trace's reward never halved: not a collapse"
    assert warned < half, f"{expected} warned at step {warned}, reward already halved at {half}"
    if meta.get("signs_at") is not None:
        # no rule may warn before the run shows any sign of trouble
        assert report.first_warning_step >= meta["signs_at"], [a.to_dict() for a in report.alerts]


def test_collapse_alerts_carry_evidence_and_example_completions(traces_root):
    report = diagnose(str(traces_root / "collapse_repetition"))
    rep = next(a for a in report.alerts if a.rule == "repetition")
    assert rep.first_step <= rep.steps["warning"] <= rep.steps["critical"] <= rep.last_step
    signals = rep.evidence["signals"]
    assert {"repetitive_share", "unique_token_ratio", "ngram4_repeat_max"} <= set(signals)
    assert all("baseline" in s and "value" in s for s in signals.values())
    examples = rep.evidence["examples"]
    assert examples and all(e["id"] is not None and e["step"] is not None and e["task_id"] for e in examples)
    assert any(
        "in a pattern" in e["snippet"] or "alternating patterns" in e["snippet"] or "pattern in a 3x1" in e["snippet"]
        for e in examples
    )
    d = report.to_dict()
    assert d["status"] == "critical" and d["alerts"][0]["severity"] == "critical"


def test_gibberish_examples_are_the_gibberish(traces_root):
    report = diagnose(str(traces_root / "collapse_gibberish"))
    gib = next(a for a in report.alerts if a.rule == "gibberish")
    ex = gib.evidence["examples"]
    assert all(e["python_token_share"] < 0.9 for e in ex), ex


@pytest.mark.parametrize("name, first_ok", [("collapse_truncation", 3400), ("collapse_kl_spike", 3600)])
def test_healthy_checkpoint_is_the_newest_before_the_first_warning(traces_root, tmp_path, name, first_ok):
    run_dir = tmp_path / name
    shutil.copytree(traces_root / name, run_dir)
    add_checkpoints(run_dir, every=200, last=5000)
    # an unusable checkpoint just before the warning must be skipped
    report0 = diagnose(str(run_dir))
    warn = report0.first_warning_step
    newest_before = max(s for s in range(200, 5001, 200) if s < warn)
    (run_dir / f"checkpoint-{newest_before}" / "trainer_state.json").unlink()
    report = diagnose(str(run_dir))
    ck = report.healthy_checkpoint
    assert ck is not None and ck.valid
    assert ck.step == newest_before - 200 and ck.step < warn
    assert ck.step >= first_ok - 400  # not needlessly far back


def test_healthy_run_points_at_its_newest_checkpoint(traces_root, tmp_path):
    run_dir = tmp_path / "h"
    shutil.copytree(traces_root / "healthy_a", run_dir)
    add_checkpoints(run_dir, every=500, last=5000)
    report = diagnose(str(run_dir))
    assert report.healthy_checkpoint.name == "checkpoint-5000"
