"""The headless core: incremental metrics, the completion byte index and its filters, tails."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from arcctl.tui.screens.completions import ngram_repeats
from arcctl.tui.screens.jobs import matches
from jobs.completions import CompletionFilter
from jobs.metrics_history import MetricsHistory, downsample
from jobs.runview import RunView


def test_metrics_grow_incrementally_and_tolerate_torn_lines(tmp_path):
    m = tmp_path / "metrics.jsonl"
    m.write_text('{"step": 1, "reward": 0.1}\n{"step": 2, "reward": 0.2, "kl": 0.5}\n{"step": 3, "rew')
    v = RunView(str(tmp_path))
    assert "metrics" in v.refresh()
    assert len(v.metrics) == 2 and v.metrics.last("kl") == 0.5
    assert np.isnan(v.metrics.columns["kl"][0])  # a metric that appears later is NaN before
    with open(m, "a") as f:
        f.write('ard": 0.3}\n')
    assert v.refresh() == {"metrics"}
    assert v.metrics.last("reward") == 0.3 and v.metrics.last_step() == 3
    assert v.refresh() == set()


def test_metrics_start_over_when_a_resume_moves_later_steps_aside(tmp_path):
    """A resume from an earlier checkpoint replaces metrics.jsonl with its first steps, then the
    run writes the later steps again: an open view shows one history, not the old steps twice."""
    m = tmp_path / "metrics.jsonl"
    m.write_text("".join(json.dumps({"step": s, "reward": 0.1 * s}) + "\n" for s in (1, 2, 3, 4)))
    v = RunView(str(tmp_path))
    v.refresh()
    assert list(v.metrics.steps) == [1, 2, 3, 4]
    m.write_text("".join(json.dumps({"step": s, "reward": 0.1 * s}) + "\n" for s in (1, 2)))  # moved aside
    with open(m, "a") as f:
        f.write(json.dumps({"step": 3, "reward": 0.9}) + "\n")
    assert "metrics" in v.refresh()
    assert list(v.metrics.steps) == [1, 2, 3] and v.metrics.last("reward") == 0.9


def test_downsample_keeps_spikes_and_bounds_points():
    x = np.arange(100_000, dtype=float)
    y = np.zeros_like(x)
    y[54_321] = 9.0
    xs, ys = downsample(x, y, 200)
    assert len(xs) == 400 and max(ys) == 9.0
    assert xs == sorted(xs)


def test_smoothing_is_an_ema_extended_incrementally():
    h = MetricsHistory()
    h.extend({"step": i, "reward": float(i % 2)} for i in range(10))
    _, raw = h.series("reward")
    _, sm = h.series("reward", smoothing=0.5)
    assert raw[:3] == [0.0, 1.0, 0.0] and sm[:3] == [0.0, 0.5, 0.25]
    h.extend([{"step": 10, "reward": 1.0}])
    _, sm2 = h.series("reward", smoothing=0.5)
    assert sm2[:10] == sm and len(sm2) == 11


def test_completion_index_pages_and_filters(runs):
    v = RunView(str(runs / "collapsing"))
    v.refresh()
    idx = v.completions
    assert len(idx) == 56
    page, nxt = idx.page(CompletionFilter(), 0, 10)
    assert [c.line for c in page] == list(range(10)) and nxt == 10
    trunc, _ = idx.page(CompletionFilter(truncated_only=True), 0, 100)
    assert trunc and all(c.truncated for c in trunc) and {c.step for c in trunc} == {46, 51, 56, 61, 66}
    best, _ = idx.page(CompletionFilter(order="best"), 0, 3)
    assert [c.reward for c in best] == [0.75, 0.75, 0.75]
    worst, _ = idx.page(CompletionFilter(order="worst"), 0, 1)
    assert worst[0].reward == 0.0
    rng, _ = idx.page(CompletionFilter(reward_min=0.4, reward_max=0.6), 0, 100)
    assert rng and all(0.4 <= c.reward <= 0.6 for c in rng)
    err, _ = idx.page(CompletionFilter(error="syntax"), 0, 100)
    assert len(err) == len(trunc) and all(c.error == "syntax_error" for c in err)
    text, _ = idx.page(CompletionFilter(text="IN A PATTERN", task="00d62c1b"), 0, 100)
    assert text and all(c.task == "00d62c1b" and "in a pattern" in c.text for c in text)
    step, _ = idx.page(CompletionFilter(step=46), 0, 100)
    assert [c.id for c in step] == ["46:0", "46:1", "46:2", "46:3"]
    assert idx.find_id("46:2").task == "00d62c1b"


def test_completion_index_reads_appends_and_not_a_torn_line(tmp_path):
    p = tmp_path / "completions.jsonl"
    p.write_text(json.dumps({"id": "a", "step": 1, "completion": "x", "reward": 1}) + "\n" + '{"id": "b", "st')
    v = RunView(str(tmp_path))
    v.refresh()
    assert len(v.completions) == 1
    with open(p, "a") as f:
        f.write('ep": 2, "completion": "y", "reward": 0.5}\nnot json\n')
    v.refresh()
    assert len(v.completions) == 3
    page, _ = v.completions.page(CompletionFilter(), 0, 10)
    assert [c.id for c in page[:2]] == ["a", "b"] and page[2].error == "malformed line"


def test_checkpoints_alerts_spec_and_logs(runs):
    v = RunView(str(runs / "collapsing"))
    v.refresh()
    cks = v.checkpoints()
    assert [(c.name, c.valid) for c in cks] == [
        ("checkpoint-20", True),
        ("checkpoint-40", True),
        ("checkpoint-60", False),
    ]
    assert cks[0].metrics["reward"] == 0.5682  # the metrics row logged at step 20
    alerts = v.alerts()
    assert alerts[0].rule == "repetition" and alerts[0].example_ids == ["46:0"]
    assert v.spec["params"]["repetition_penalty"] == 1.02
    assert v.stdout.lines[0] == "step 1 reward ok" and v.stderr.lines == ["warning: using CPU"]
    healthy = RunView(str(runs / "healthy"))
    healthy.refresh()
    assert healthy.alerts() == []


def test_filter_regex_and_inversion():
    assert matches("lr1e-0[46]", "grpo-lr1e-04")
    assert not matches("!lr1e-04", "grpo-lr1e-04")
    assert matches("[unclosed", "x [unclosed y")  # a bad regex falls back to a substring


def test_ngram_repeats_spans():
    text = "a b c d " * 4 + "tail"
    spans = ngram_repeats(text, n=4, min_count=3)
    assert spans and spans[0][0] == 0 and text[spans[0][0] : spans[0][1]].startswith("a b c d")
    assert ngram_repeats("no repeats at all here", n=4) == []


def test_import_hygiene():
    """jobs.runview never imports textual; the dashboard never imports torch/transformers/trl."""
    code = (
        "import sys, jobs.runview; bad = [m for m in ('textual',) if m in sys.modules]; "
        "import arcctl.tui.app, arcctl.tui.screens.jobs, arcctl.tui.screens.run, arcctl.tui.screens.completions, "
        "arcctl.tui.screens.checkpoints, arcctl.tui.screens.fork, arcctl.tui.screens.new_job, arcctl.cli.main; "
        "bad += [m for m in ('torch', 'transformers', 'trl') if m in sys.modules]; print(bad)"
    )
    code2 = "import sys, jobs.runview; print([m for m in sys.modules if m.split('.')[0] in ('textual','torch','transformers','trl')])"
    out = subprocess.run([sys.executable, "-c", code2], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
