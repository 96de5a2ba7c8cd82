"""Steps whose every completion was truncated and masked out of the loss: TRL logs entropy 0 and kl 0
there. The history, the charts, `arcctl tail` and the health rules must show "not measured", never a
collapse to 0. The last test makes such steps for real: the tiny model, completions cut at 4 tokens,
mask_truncated_completions on."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from arcctl.cli.tail_cmd import format_record
from jobs import rundir
from jobs.health import HealthMonitor, diagnose
from jobs.masked_steps import all_masked, masking_of
from jobs.metrics_history import MetricsHistory
from tests.trainer_train.conftest import small_dataset, small_grpo_spec  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(120)


def row(step: int, masked: bool, entropy: float = 2.0) -> dict:
    """A GRPO metrics row; a masked one carries the zeros TRL logs when no token is left in the mask."""
    return {
        "step": step,
        "reward": 0.5,
        "completions/clipped_ratio": 1.0 if masked else 0.25,
        "entropy": 0.0 if masked else entropy,
        "kl": 0.0 if masked else 0.05,
        "loss": 0.0 if masked else 0.01,
        "grad_norm": 0.0 if masked else 0.4,
        "frac_reward_zero_std": 0.0,
    }


def test_all_masked_needs_every_completion_clipped_and_masking_on():
    assert all_masked(row(1, True), True)
    assert not all_masked(row(1, True), False)  # masking off: a real 0 (a deterministic policy)
    assert not all_masked(dict(row(1, True), **{"completions/clipped_ratio": 0.75}), True)
    # masking unknown (no spec): TRL's exact 0 on a fully clipped step gives it away
    assert all_masked(row(1, True), None)
    assert not all_masked(dict(row(1, True), entropy=0.3), None)
    # without TRL's clipped ratio, our own truncated ratio says the same
    ours = {"step": 1, "arc/truncated_ratio": 1.0, "entropy": 0.0}
    assert all_masked(ours, True) and all_masked(ours, None)
    assert not all_masked({"step": 1, "entropy": 0.0}, True)
    assert masking_of({"params": {"mask_truncated_completions": True}}) is True
    assert masking_of({"params": {"mask_truncated_completions": "yes"}}) is None
    assert masking_of({"params": []}) is None and masking_of(None) is None


def test_history_leaves_a_gap_for_the_unmeasured_metrics_only():
    h = MetricsHistory(mask_truncated=True)
    h.extend([row(s, 5 <= s <= 7 or s == 10) for s in range(1, 13)])
    assert h.masked_spans() == [(5.0, 7.0), (10.0, 10.0)] and h.masked_count() == 4
    assert h.masked_spans(step_range=(8, 12)) == [(10.0, 10.0)]
    xs, ys = h.series("entropy")
    assert xs == [1, 2, 3, 4, 8, 9, 11, 12] and min(ys) == 2.0
    assert h.series("reward")[0] == list(range(1, 13))  # the generation metrics are real on those steps
    assert "entropy" not in h.row_at(6) and h.row_at(6)["reward"] == 0.5
    # the smoothed line does not carry its last value across the gap either
    sx, _ = h.series("kl", smoothing=0.9)
    assert 6 not in sx and 10 not in sx and 11 in sx
    off = MetricsHistory(mask_truncated=False)
    off.extend([row(s, s == 3) for s in range(1, 5)])
    assert off.masked_spans() == [] and off.series("entropy")[1][2] == 0.0


def test_history_flags_agree_with_all_masked_on_every_combination():
    """The history flags whole columns at once; it must say what all_masked says of each row."""
    import itertools

    absent = object()
    values = {
        "completions/clipped_ratio": (absent, 0.5, 1.0, math.inf),
        "arc/truncated_ratio": (absent, 0.5, 1.0),
        "entropy": (absent, 0.0, 0.3, "0"),
        "kl": (absent, 0.0, 0.2),
    }
    rows = [
        dict({"step": i}, **{k: v for k, v in zip(values, combo) if v is not absent})
        for i, combo in enumerate(itertools.product(*values.values()))
    ]
    counts = {}
    for masking in (None, True, False):
        h = MetricsHistory(mask_truncated=masking)
        h.extend(rows[:50])
        h.extend(rows[50:])  # flags of a later batch come from that batch's rows only
        assert list(h.masked) == [int(all_masked(r, masking)) for r in rows], masking
        counts[masking] = h.masked_count()
    assert counts[True] > counts[None] > counts[False] == 0


def test_masked_steps_stay_out_of_every_baseline():
    """A steady entropy of ~2; from step 40 two steps in three are all masked (TRL's 0). With the
    steps detected, the baseline is the measured ~2 and only the truncation rule speaks (the clipped
    ratio really rose); judged on TRL's numbers, it is an entropy collapse."""
    rows = [row(s, s >= 40 and s % 3 != 0, entropy=2.0 + 0.01 * (s % 3)) for s in range(1, 121)]
    mon = HealthMonitor(mask_truncated=True)
    mon.update(rows)
    assert mon.masked_rows == 54
    ent = mon.series("entropy")
    assert ent.n == 120 - 54 and ent.baseline == pytest.approx(2.01, abs=0.01) and ent.mean > 1.9
    assert mon.series("kl").reference_median == pytest.approx(0.05)
    assert mon.series("reward").n == 120
    assert {a.rule for a in mon.alerts} == {"truncation"}, [a.to_dict() for a in mon.alerts]
    naive = HealthMonitor(mask_truncated=False)
    naive.update(rows)
    collapse = next(a for a in naive.alerts if a.rule == "entropy")
    assert collapse.evidence["signals"]["entropy"]["kind"] == "collapse" and "warning" in collapse.steps


def test_tail_says_all_masked():
    line = format_record("metrics", row(4, True), masking=True)
    assert line.startswith("step 4  reward=0.5  frac_reward_zero_std=0  kl=–  entropy=–  loss=–  grad_norm=–")
    assert "[all masked: every completion truncated;" in line
    assert "entropy=0" in format_record("metrics", row(4, True), masking=False)
    assert "all masked" not in format_record("metrics", row(4, False), masking=True)


def test_chart_breaks_its_line_at_masked_steps():
    import asyncio

    from textual.app import App

    from arcctl.tui.widgets.charts import MetricChart

    h = MetricsHistory(mask_truncated=True)
    h.extend([row(s, 15 <= s <= 22, entropy=2.0 + 0.01 * s) for s in range(1, 41)])

    class One(App):
        def compose(self):
            yield MetricChart("entropy")

    async def drawn(history: MetricsHistory) -> str:
        app = One()
        async with app.run_test(size=(100, 20)) as pilot:
            chart = app.query_one(MetricChart)
            await pilot.pause()
            chart.draw(history)
            return _strip_ansi(chart.plt.build())

    plain = asyncio.run(drawn(h))
    assert "8 steps all masked" in plain.splitlines()[0]
    bottom = [ln for ln in plain.splitlines() if "┤" in ln][-1]
    assert "masked" in bottom and "·" in bottom  # the gap, dotted and labelled along the bottom
    # the y axis starts at the lowest measured entropy: no line dives to TRL's 0
    labels = [float(ln.split("┤")[0]) for ln in plain.splitlines() if "┤" in ln]
    assert min(labels) > 1.9
    # a run whose every step so far was masked: the title says so, not "no data"
    every = MetricsHistory(mask_truncated=True)
    every.extend([row(s, True) for s in range(1, 6)])
    title = asyncio.run(drawn(every)).splitlines()[0]
    assert "5 steps all masked" in title and "no data" not in title


def _strip_ansi(s: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", s)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_real_tiny_run_with_every_completion_masked(tmp_path, monkeypatch, small_grpo_spec):
    from arcctl.cli.main import app
    from tests.trainer_train.helpers import run_trainer

    monkeypatch.setenv("ARCCTL_HOME", str(tmp_path / "home"))
    run_dir = tmp_path / "masked"
    every_completion_masked = dict(max_completion_length=4, mask_truncated_completions=True)
    small_grpo_spec(
        run_dir, max_steps=2, beta=0.04, logging_steps=1, save_steps=1000, **every_completion_masked
    ).write()
    proc = run_trainer("run", str(run_dir), timeout=200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [r for r in rundir.read_jsonl(run_dir / rundir.METRICS) if "reward" in r]
    assert [r["step"] for r in rows] == [1, 2]
    # what TRL logs when no completion token is left in the loss mask
    for r in rows:
        assert r["completions/clipped_ratio"] == 1.0 and r["entropy"] == 0.0 and r["kl"] == 0.0, r

    res = CliRunner().invoke(app, ["tail", str(run_dir)])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("step ")]
    assert len(lines) == 2 and all("entropy=–" in ln and "[all masked:" in ln for ln in lines), res.output

    h = MetricsHistory(mask_truncated=True)
    h.extend(rows)
    assert h.series("entropy") == ([], []) and h.masked_spans() == [(1.0, 2.0)]
    report = diagnose(str(run_dir))
    assert "entropy" not in {a.rule for a in report.alerts}
    assert any("2 step(s) all masked" in n for n in report.notes), report.notes
