"""The detectors on REAL collapses recorded by tests/health/record_traces.py (GRPO runs of the
warm-started tiny model on a CPU, pushed over by a learning rate that ramps far too high; the README
beside the traces gives the settings). test_traces.py checks each trace's expected rule (warning
before the smoothed reward halved, nothing before the signs); here: the trace's own numbers back
what trace.json claims, every rule it lists fires, and the evidence is the collapsed run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.health import HealthMonitor, diagnose
from jobs.health.report import settings_from_spec
from jobs.rundir import LocalFS, read_jsonl

from .test_traces import reward_half_step

pytestmark = pytest.mark.timeout(120)

TRACES = Path(__file__).resolve().parent / "traces"
RECORDED = sorted(
    p.name
    for p in TRACES.glob("real_*")
    if (p / "trace.json").exists()
    and json.loads((p / "trace.json").read_text()).get("generator") == "tests/health/record_traces.py"
)


def meta(name: str) -> dict:
    return json.loads((TRACES / name / "trace.json").read_text())


def test_recorded_traces_exist():
    assert RECORDED, "no trace recorded by tests/health/record_traces.py under tests/health/traces/"


@pytest.mark.parametrize("name", RECORDED)
def test_trace_is_a_real_collapse_and_its_signs_are_in_the_data(name):
    rows = read_jsonl(TRACES / name / "metrics.jsonl")
    m = meta(name)
    assert rows[-1]["step"] == m["last_step"]
    # the policy starts near the warm-started model and leaves it
    assert max(r["kl"] for r in rows if r["step"] < 10) < 0.1
    assert max(r["kl"] for r in rows[-20:]) > 1.0
    if m.get("signs_at") is not None:  # trace.json: the first step whose signs_metric exceeds signs_above
        assert next(r["step"] for r in rows if r[m["signs_metric"]] > m["signs_above"]) == m["signs_at"]
    if m["end_state"] == "zero_reward":
        # a reward that was there is gone, and every group ends with the same reward for all completions
        assert any(r["reward"] > 0 for r in rows[:25])
        assert all(r["reward"] == 0 and r["frac_reward_zero_std"] == 1 for r in rows[-10:])
    elif m["end_state"] == "repetition":
        # diverse programs at first; at the end every completion loops one phrase to the length limit
        assert all(r["arc/ngram4_repeat_max"] <= 6 and r["arc/unique_token_ratio"] > 0.4 for r in rows[:20])
        assert all(r["arc/ngram4_repeat_max"] >= 30 and r["arc/unique_token_ratio"] < 0.12 for r in rows[-10:])
    elif m["end_state"] == "grad_blowup":
        # every one of the last rows has a gradient 4x the early median
        early = sorted(r["grad_norm"] for r in rows[:20])[10]
        assert all(r["grad_norm"] >= 4 * early for r in rows[-10:])
    else:
        pytest.fail(f"{name}: unknown end_state {m['end_state']!r}")


@pytest.mark.parametrize("name", RECORDED)
def test_every_listed_rule_fires_and_the_prompt_ones_before_the_reward_halves(name):
    m = meta(name)
    report = diagnose(str(TRACES / name))
    half = reward_half_step(read_jsonl(TRACES / name / "metrics.jsonl"))
    late = set(m.get("late_rules", []))
    for rule in [m["expected_rule"], *m.get("also_warns", [])]:
        alert = next((a for a in report.alerts if a.rule == rule), None)
        assert alert is not None and "warning" in alert.steps, f"{rule}: {[a.to_dict() for a in report.alerts]}"
        if rule not in late and m.get("reward_half_check", True):
            assert half is not None and alert.steps["warning"] < half, (rule, alert.steps, half)
    # the rules this trace does not exercise stay below warning (no kind of collapse is claimed for them)
    listed = {m["expected_rule"], *m.get("also_warns", []), *([m["missed"]] if m.get("missed") else [])}
    for a in report.alerts:
        if a.rule not in listed:
            assert "warning" not in a.steps, a.to_dict()


def test_lr_ramp_evidence_is_the_collapsed_run():
    report = diagnose(str(TRACES / "real_grpo_lr_ramp"))
    by = {a.rule: a for a in report.alerts}
    assert by["entropy"].evidence["signals"]["entropy"]["kind"] == "explosion"
    assert by["zero_std"].evidence["signals"]["frac_reward_zero_std"]["value"] == 1.0
    assert by["reward_fall"].evidence["signals"]["reward"]["value"] == 0.0
    kl = by["kl_spike"].evidence["signals"]["kl"]
    assert kl["ratio"] >= 10 and min(kl["recent"]) > 0.3  # every recent row, against < 0.1 before step 10
    # truncation's examples are the completions that ran into the length limit
    examples = by["truncation"].evidence["examples"]
    assert examples
    comps = {c["id"]: c for c in read_jsonl(TRACES / "real_grpo_lr_ramp" / "completions.jsonl")}
    assert all(comps[e["id"]]["truncated"] for e in examples), examples


def test_repetition_evidence_is_the_looped_phrase():
    report = diagnose(str(TRACES / "real_repeat_reward"))
    rep = next(a for a in report.alerts if a.rule == "repetition")
    assert rep.steps["warning"] > meta("real_repeat_reward")["signs_at"]  # after the loops appear, not before
    signals = rep.evidence["signals"]
    assert signals["ngram4_repeat_max"]["value"] > 5 * signals["ngram4_repeat_max"]["baseline"]
    assert signals["unique_token_ratio"]["value"] < 0.5 * signals["unique_token_ratio"]["baseline"]
    # the examples are completions that loop one line
    comps = {c["id"]: c for c in read_jsonl(TRACES / "real_repeat_reward" / "completions.jsonl")}
    examples = rep.evidence["examples"]
    assert examples and all(comps[e["id"]]["diag"]["ngram4_unique_ratio"] < 0.2 for e in examples), examples
    assert all(e["snippet"].count("# description:") >= 5 for e in examples), examples


def test_grad_norm_evidence_is_the_blow_up():
    report = diagnose(str(TRACES / "real_grad_kl"))
    grad = next(a for a in report.alerts if a.rule == "grad_norm_spike")
    assert meta("real_grad_kl")["signs_at"] <= grad.steps["warning"] <= meta("real_grad_kl")["signs_at"] + 5
    sig = grad.evidence["signals"]["grad_norm"]
    assert sig["ratio"] >= 4 and sig["running_median"] < 1.5
    assert sum(v >= 4 * sig["running_median"] for v in sig["recent"]) >= 3  # sustained, not one spiking row


def digit_share(text: str) -> float:
    chars = "".join(text.split())
    return sum(ch.isdigit() for ch in chars) / max(1, len(chars))


def test_t125_run_ends_in_digit_soup():
    """What the gibberish rule should see on real_gibberish_t1.25, measured without the detectors."""
    comps = read_jsonl(TRACES / "real_gibberish_t1.25" / "completions.jsonl")
    early = [digit_share(c["completion"]) for c in comps if c["step"] <= 25]
    late = [digit_share(c["completion"]) for c in comps if c["step"] > 75]
    assert sum(late) / len(late) > 4 * sum(early) / len(early) and sum(late) / len(late) > 0.4


def test_gibberish_rule_catches_the_digit_soup():
    """Digit soup tokenizes as Python NUMBER/NAME tokens and runs into the length limit (so its parse
    errors are the truncation rule's); the share of text in runs of 4+ digits is what shows it."""
    report = diagnose(str(TRACES / "real_gibberish_t1.25"))
    gib = next((a for a in report.alerts if a.rule == "gibberish"), None)
    assert gib is not None and "warning" in gib.steps, [a.to_dict() for a in report.alerts]
    sig = gib.evidence["signals"]["digit_run_share"]
    assert sig["value"] > 3 * sig["baseline"]
    assert sig["level"] == max(s["level"] for s in gib.evidence["signals"].values())
    # the examples are the soup itself
    assert gib.evidence["examples"] and all(digit_share(e["snippet"]) > 0.4 for e in gib.evidence["examples"])


def test_gibberish_rule_stays_silent_on_healthy_traces(traces_root):
    """No new false alarm: the healthy traces (simulated and real) raise no gibberish alert, not even
    a watch, and their share of digit runs does not move."""
    healthy = [
        p
        for p in sorted(traces_root.iterdir())
        if (p / "trace.json").exists() and json.loads((p / "trace.json").read_text())["expected_rule"] is None
    ]
    assert {"healthy_a", "healthy_b", "real_tiny_cpu_lr1e-4"} <= {p.name for p in healthy}
    for run in healthy:
        th, mcl, _ = settings_from_spec(str(run), LocalFS())
        mon = HealthMonitor(th, mcl)
        mon.update(read_jsonl(run / "metrics.jsonl"), read_jsonl(run / "completions.jsonl"))
        assert "gibberish" not in {a.rule for a in mon.alerts}, (run.name, [a.to_dict() for a in mon.alerts])
        cw = mon.completions
        assert abs(cw.mean("digit_run_share") - cw.baseline["digit_run_share"]) < mon.th.digit_run_watch / 2, run.name
