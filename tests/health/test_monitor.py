"""HealthMonitor and thresholds on small, hand-made inputs: incremental feeding, bad rows, the
spike and entropy rules, threshold overrides, and the package's purity (no numpy/torch/textual)."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys

import pytest

from jobs.health import HealthConfigError, HealthMonitor, Thresholds, diagnose
from jobs.health.textcheck import python_token_share
from jobs.rundir import JsonlTail

pytestmark = pytest.mark.timeout(120)


def rows(n, start=1, **metrics):
    """n metric rows; each metric is a function of the row index i."""
    return [{"step": i, **{k: f(i) for k, f in metrics.items()}} for i in range(start, start + n)]


def test_incremental_feeding_through_a_torn_tail_matches_one_shot(traces_root, tmp_path):
    """The trainer's guard and the dashboard tail files that are still being written, torn last
    lines included; they must end with the same alerts as a one-shot diagnosis."""
    src = traces_root / "collapse_truncation"
    live = tmp_path / "live"
    live.mkdir()
    (live / "spec.json").write_text((src / "spec.json").read_text())
    mon = HealthMonitor(max_completion_length=1024)
    tails = {name: JsonlTail(str(live / name)) for name in ("metrics.jsonl", "completions.jsonl")}
    data = {name: (src / name).read_bytes() for name in tails}
    rng = random.Random(0)
    pos = dict.fromkeys(tails, 0)
    while any(pos[n] < len(data[n]) for n in tails):
        for name in tails:
            cut = min(len(data[name]), pos[name] + rng.randint(1, 60000))  # cuts mid-line too
            with open(live / name, "ab") as f:
                f.write(data[name][pos[name] : cut])
            pos[name] = cut
        mon.update(tails["metrics.jsonl"].read_new(), tails["completions.jsonl"].read_new())
    one_shot = diagnose(str(src))
    assert mon.status == one_shot.status == "critical"
    got = {a.rule: a.steps for a in mon.alerts}
    want = {a.rule: a.steps for a in one_shot.alerts}
    assert set(got) == set(want)
    # chunking moves completions relative to metric rows a little; the truncation verdict is steady
    assert abs(got["truncation"]["warning"] - want["truncation"]["warning"]) <= 50


def test_bad_rows_are_skipped_not_fatal():
    mon = HealthMonitor()
    good = rows(60, reward=lambda i: 1.0, entropy=lambda i: 0.5)
    junk = [
        {"step": "x", "reward": 1},
        {"reward": 2.0},
        {"step": 61, "reward": "nan?", "entropy": None},
        {"step": 62, "reward": float("nan"), "kl": math.inf},
        {"step": True, "reward": 1},
    ]
    mon.update(good + junk)
    assert mon.status == "healthy" and mon.step == 62
    mon.add_completion({"step": 3, "completion": None, "error": 5, "diag": "oops"})
    mon.add_completion({})
    assert mon.completions.total == 2


def test_single_spikes_are_watch_sustained_spikes_escalate():
    rng = random.Random(1)
    base = [0.3 * math.exp(rng.gauss(0, 0.2)) for _ in range(200)]
    base[80] *= 8  # one lone spike
    mon = HealthMonitor()
    mon.update([{"step": i, "grad_norm": v} for i, v in enumerate(base)])
    assert mon.status == "watch"
    a = mon.alerts[0]
    assert a.rule == "grad_norm_spike" and a.steps == {"watch": 80}
    burst = [{"step": 200 + i, "grad_norm": 0.3 * 15} for i in range(5)]
    raised = mon.update(burst)
    assert [r.rule for r in raised] == ["grad_norm_spike"]
    assert mon.status == "critical" and a.steps["critical"] == 202  # third spiking row


def test_kl_starting_at_zero_does_not_look_like_a_spike():
    mon = HealthMonitor()
    mon.update(rows(100, kl=lambda i: 0.0 if i < 30 else 1e-4 * (i - 29)))
    assert mon.status == "healthy"


@pytest.mark.parametrize("factor, kind", [(0.2, "collapse"), (3.5, "explosion")])
def test_entropy_against_its_own_early_baseline(factor, kind):
    mon = HealthMonitor()
    mon.update(rows(300, entropy=lambda i: 0.6 if i < 150 else 0.6 * factor))
    a = next(a for a in mon.alerts if a.rule == "entropy")
    assert a.severity == "critical" and a.evidence["signals"]["entropy"]["kind"] == kind
    assert 150 < a.steps["warning"] < 175


def test_runs_with_a_low_or_high_entropy_of_their_own_are_fine():
    for level in (0.05, 3.0):
        mon = HealthMonitor()
        mon.update(rows(300, entropy=lambda i: level * (1 + 0.05 * math.sin(i))))
        assert mon.status == "healthy"


def test_reward_fall_measured_from_the_smoothed_best():
    mon = HealthMonitor()
    mon.update(rows(400, reward=lambda i: min(i, 200) / 100 if i < 250 else 2.0 - (i - 250) / 100))
    a = next(a for a in mon.alerts if a.rule == "reward_fall")
    assert a.evidence["signals"]["reward"]["best"] > 1.8
    assert a.severity == "critical"
    # a run stuck near zero reward is not "falling"
    mon = HealthMonitor()
    mon.update(rows(300, reward=lambda i: 0.01 * ((i % 7) - 3)))
    assert mon.status == "healthy"


def test_zero_std_already_high_from_the_start_is_not_an_alarm():
    mon = HealthMonitor()
    mon.update(rows(300, frac_reward_zero_std=lambda i: 1.0 if i % 3 else 0.9))
    assert mon.status == "healthy"
    mon = HealthMonitor()
    mon.update(rows(300, frac_reward_zero_std=lambda i: 0.3 if i < 150 else 1.0))
    assert mon.status == "critical"


def test_truncation_from_metrics_alone_uses_the_length_limit():
    mon = HealthMonitor(max_completion_length=512)
    mon.update(rows(200, **{"completions/mean_length": lambda i: 200 if i < 100 else 480}))
    a = mon.alerts[0]
    assert a.rule == "truncation" and a.severity == "critical"
    assert a.evidence["signals"]["mean_length"]["max_completion_length"] == 512
    # without the limit there is no length verdict
    mon = HealthMonitor()
    mon.update(rows(200, **{"completions/mean_length": lambda i: 200 if i < 100 else 480}))
    assert mon.status == "healthy"


def test_python_token_share():
    assert python_token_share("def f(x):\n    return x + 1\n") == 1.0
    assert python_token_share("```python\nx = 1\n```") == 1.0
    assert python_token_share("# a comment in English, with words\nprint('hi')") == 1.0
    assert python_token_share("调整 ationsGrid $$ ']] » agosto ::; Blöcke ннн") < 0.6
    assert python_token_share("") == 1.0


def test_threshold_overrides_and_errors():
    th = Thresholds.from_overrides({"window": 10, "clipped_warning": 0.3, "kl_spike": 5})
    assert th.window == 10 and th.clipped_warning == 0.3 and th.kl_spike == 5.0
    with pytest.raises(HealthConfigError, match="unknown health threshold 'windw'"):
        Thresholds.from_overrides({"windw": 10})
    with pytest.raises(HealthConfigError, match="params.health.window: expected a positive whole number"):
        Thresholds.from_overrides({"window": 2.5})
    with pytest.raises(HealthConfigError, match="clipped_warning: expected a number"):
        Thresholds.from_overrides({"clipped_warning": "high"})
    # a flat name sets one part of its signal's levels; the other parts keep their defaults
    assert th.clipped == (Thresholds().clipped.watch, 0.3, Thresholds().clipped.critical)
    assert th.clipped.up(0.25) == 1 and Thresholds().clipped.up(0.25) == 2
    assert Thresholds().unique_ratio.down(0.5) == 2  # low is bad: 0.5 is at or below the warning 0.65
    names = Thresholds.names()
    assert names["clipped_critical"] is float and names["window"] is int and "clipped" not in names
    assert Thresholds.from_overrides(th.to_dict()) == th  # the flat table round-trips
    with pytest.raises(HealthConfigError, match="unknown health threshold 'clipped'"):
        Thresholds.from_overrides({"clipped": 0.2})
    with pytest.raises(AttributeError):
        th.clipped_severe  # noqa: B018


def test_spec_health_overrides_are_used_and_bad_ones_name_the_file(traces_root, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(traces_root / "collapse_truncation", run)
    spec = json.loads((run / "spec.json").read_text())
    spec["params"]["health"] = {
        "clipped_warning": 0.99,
        "clipped_critical": 0.995,
        "length_warning": 0.9,
        "length_critical": 0.99,
        "length_abs_critical": 1.01,
    }
    (run / "spec.json").write_text(json.dumps(spec))
    report = diagnose(str(run))
    trunc = next(a for a in report.alerts if a.rule == "truncation")
    assert trunc.severity == "watch"  # the template raised the bar
    spec["params"]["health"] = {"nope": 1}
    (run / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(HealthConfigError, match=r"spec.json: params.health: unknown health threshold 'nope'"):
        diagnose(str(run))


def test_missing_files_give_an_empty_healthy_report(tmp_path):
    report = diagnose(str(tmp_path))
    assert report.status == "healthy" and report.step is None
    assert any("spec.json" in n for n in report.notes) and any("metrics.jsonl" in n for n in report.notes)


def test_jobs_health_is_pure_python():
    code = (
        "import sys, jobs.health, jobs.health.report; "
        "bad = [m for m in ('numpy', 'torch', 'textual', 'transformers', 'trl') if m in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_zero_gradient_steps_are_not_a_reference_level():
    """Seen in a real tiny GRPO run: grad_norm and kl are exactly 0 while every group earns the
    same reward; the first real gradient is not a 10,000x spike."""
    rng = random.Random(2)
    vals = [0.0] * 14 + [0.0 if rng.random() < 0.5 else 0.01 * math.exp(rng.gauss(0, 0.3)) for _ in range(60)]
    mon = HealthMonitor()
    mon.update([{"step": i, "grad_norm": v, "kl": v * 5} for i, v in enumerate(vals, 1)])
    assert mon.status in ("healthy", "watch"), [a.to_dict() for a in mon.alerts]


def test_python_tokens_are_checked_on_a_sample_per_step():
    th = Thresholds(tokenize_per_step=2, baseline_completions=4)
    mon = HealthMonitor(th)
    for step in (1, 2, 3):
        for i in range(5):
            mon.add_completion({"step": step, "id": f"{step}:{i}", "completion": "x = 1\n" if i < 4 else "调整 $$ »"})
    cw = mon.completions
    assert cw.total == 15 and cw.counts["pytoken_share"] == 6 and cw.counts["truncated"] == 15
    assert cw.mean("pytoken_share") == 1.0  # the gibberish ones were beyond the per-step sample


def test_grad_norm_of_rows_without_reward_spread_is_not_the_reference():
    """Seen in a real tiny run at a sane learning rate: when every group earns one reward the
    gradient is the KL term alone (~1e-3); steps with a learning signal (~0.5) are not spikes."""
    rng = random.Random(3)
    rows_ = []
    for i in range(1, 120):
        signal = rng.random() < 0.25
        rows_.append(
            {
                "step": i,
                "frac_reward_zero_std": 0.0 if signal else 1.0,
                "grad_norm": (0.5 if signal else 0.001) * math.exp(rng.gauss(0, 0.3)),
            }
        )
    mon = HealthMonitor()
    mon.update(rows_)
    assert mon.status in ("healthy", "watch"), [a.to_dict() for a in mon.alerts]
