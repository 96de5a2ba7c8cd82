"""A HER run's metrics.jsonl `her/` series hold scores and shares (0..1), counts and times (>= 0).
A value outside its range (1.7, -0.2), a bare NaN or Infinity token, a bool or a string (a hand
edit, a foreign writer) is no such value: the run screen's charts, `arcctl tail` and the
epochs-to-solve report read it as missing and name it once, never drawing 1.7 or 1e308 on a
0..1 axis; the rest of the run stays as it was."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from arcctl.cli.main import app
from jobs.compare import build_her_table
from jobs.her_report import read_targets
from jobs.metrics_history import MetricsHistory
from jobs.runview import RunView
from tests.her.test_her_compare import _damage, her_run

runner = CliRunner()

# metrics.jsonl lines of a HER run, as json.dumps writes them (NaN and Infinity as bare tokens)
GOOD = {"her/mean_pixel_score": 0.3, "her/unique_outputs": 5, "her/train_loss": 0.7, "reward": 1.7}
LINES = [
    json.dumps({"step": 1, "her/best_pixel_score": 0.5, **GOOD}),
    json.dumps({"step": 2, "her/best_pixel_score": 1.7, **GOOD}),
    json.dumps({"step": 3, "her/best_pixel_score": math.nan, **GOOD}),
    json.dumps({"step": 4, "her/best_pixel_score": math.inf, **GOOD}),
    json.dumps({"step": 5, "her/best_pixel_score": True, **GOOD}),
    json.dumps({"step": 6, "her/best_pixel_score": "0.9", **GOOD}),
    json.dumps({"step": 7, "her/best_pixel_score": -1e308, **GOOD, "her/unique_outputs": -2}),
    json.dumps({"step": 8, "her/best_pixel_score": 0.8, **GOOD, "her/best_test_correct": None}),
]


@pytest.fixture
def her_metrics_run(tmp_path):
    run = tmp_path / "her"
    run.mkdir()
    (run / "spec.json").write_text(json.dumps({"kind": "her", "name": "her", "params": {}}))
    (run / "metrics.jsonl").write_text("\n".join(LINES) + "\n")
    return run


def test_checked_metric_ranges():
    from jobs.her_report import checked_metric

    assert checked_metric("her/best_pixel_score", 1) == (1, True)
    for bad in (1.7, -0.01, math.nan, math.inf, True, "0.5", [0.5]):
        assert checked_metric("her/best_pixel_score", bad) == (None, False), bad
    assert checked_metric("her/best_pixel_score", None) == (None, True)  # null: missing, no error
    assert checked_metric("her/samples", -1) == (None, False) and checked_metric("her/samples", 10**6) == (10**6, True)
    assert checked_metric("her/train_loss", 12.5) == (12.5, True)
    assert checked_metric("her/train_loss", math.inf) == (None, False)
    assert checked_metric("reward", 1.7) == (1.7, True)  # other metrics keep their own rules


def test_the_history_reads_them_as_missing_and_names_each_metric_once(her_metrics_run):
    h = MetricsHistory()
    h.extend(json.loads(line) for line in LINES)
    xs, ys = h.series("her/best_pixel_score")
    assert (xs, ys) == ([1.0, 8.0], [0.5, 0.8])
    assert h.series("her/unique_outputs")[1] == [5.0] * 7  # the -2 of step 7 left out
    assert h.series("reward")[1] == [1.7] * 8  # not a her/ score: unchanged
    assert h.invalid_note() == (
        "her/best_pixel_score: 6 values not a number in 0..1 (first 1.7); "
        "her/unique_outputs: 1 value not a number >= 0 (first -2) - read as missing"
    )
    view = RunView(str(her_metrics_run))
    view.refresh()
    assert view.metrics.invalid_note() == h.invalid_note()


def test_tail_names_them(her_metrics_run):
    r = runner.invoke(app, ["tail", str(her_metrics_run), "--all"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "her/best_pixel_score=0.5" in lines[0] and "[invalid" not in lines[0]
    assert lines[1].count("her/best_pixel_score=") == 1 and lines[1].endswith("[invalid: her/best_pixel_score=1.7]")
    assert lines[2].endswith("[invalid: her/best_pixel_score=NaN]")
    assert lines[4].endswith("[invalid: her/best_pixel_score=true]")
    assert lines[6].endswith("[invalid: her/best_pixel_score=-1e+308, her/unique_outputs=-2]")


def test_epochs_to_solve_leave_out_an_epoch_that_is_no_epoch(tmp_path):
    """An epoch of 0, -3 or true solved would be read as "solved at epoch -3": the best of the
    table and the wrong number. The record is left out and named."""
    a = her_run(tmp_path, "a", {"12-squares": 4})
    b = her_run(tmp_path, "b", {"12-squares": 3})
    for epoch in (-3, 0, True, 2.0):
        _damage(a, "12-squares", 0, epoch, solved=True, best_pixel_score=1.0)
    [row] = read_targets(str(a))
    assert row.solved_at == 4 and [e.epoch for e in row.epochs] == [1, 2, 3, 4]
    assert row.invalid == [
        "record left out: epoch=-3",
        "record left out: epoch=0",
        "record left out: epoch=true",
        "record left out: epoch=2.0",
    ]
    t = build_her_table([str(a), str(b)])
    assert t.cell("12-squares", "a") == "4" and t.best == {("12-squares", "b")}
    r = runner.invoke(app, ["compare", str(a), str(b)])
    assert r.exit_code == 0 and "| 12-squares | 4 | **3** |" in r.stdout, r.output
    assert "a: 12-squares record left out: epoch=-3" in r.stderr
