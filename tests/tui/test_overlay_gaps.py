"""Overlaid runs and all-masked steps: the overlay breaks a run's line at steps whose every completion
was truncated and masked (TRL's entropy/kl zeros there are not measurements), and the braille
renderer draws no dots across a break."""

from __future__ import annotations

import json
import math

import numpy as np

from arcctl.tui.widgets.braille import Picture, Series, render
from jobs.overlay import overlay
from jobs.runview import RunView


def _masked_run(tmp_path):
    run = tmp_path / "masked"
    run.mkdir()
    spec = {"kind": "grpo", "name": "masked", "run_dir": str(run), "params": {"mask_truncated_completions": True}}
    (run / "spec.json").write_text(json.dumps(spec))
    with open(run / "metrics.jsonl", "w") as f:
        for s in range(1, 31):
            masked = 10 <= s <= 15
            f.write(
                json.dumps(
                    {
                        "step": s,
                        "time": 1767230000.0 + s,
                        "reward": 0.1,
                        "entropy": 0.0 if masked else 1.0 + s / 100,
                        "completions/clipped_ratio": 1.0 if masked else 0.2,
                    }
                )
                + "\n"
            )
    return run


def test_overlay_line_breaks_at_all_masked_steps_and_keeps_no_zero(tmp_path):
    view = RunView(str(_masked_run(tmp_path)))
    view.refresh()
    (line,) = overlay([view], "entropy", width=200)[0]
    finite = [(x, y) for x, y in zip(line.xs, line.ys) if not math.isnan(y)]
    assert [x for x, _ in finite] == [float(s) for s in range(1, 31) if not 10 <= s <= 15]
    assert all(y > 0.5 for _, y in finite)  # TRL's zeros never reach the chart
    nan_at = [x for x, y in zip(line.xs, line.ys) if math.isnan(y)]
    assert len(nan_at) == 1 and 9 < nan_at[0] < 16
    (reward,) = overlay([view], "reward", width=200)[0]  # measured on every step: no break
    assert not any(math.isnan(y) for y in reward.ys) and len(reward.xs) == 30


def test_braille_draws_nothing_across_a_break():
    xs = [0.0, 1.0, 2.0, 5.0, 8.0, 9.0, 10.0]
    flat = Series(xs, [1.0, 0.0, 0.0, float("nan"), 0.0, 0.0, 0.0], "run")  # the first point sets the y range
    text = render(Picture(60, 12, [flat], [], "t")).plain.splitlines()
    plot = [row for row in text[1:-1]]
    mid_row = max(plot, key=lambda r: sum(ch not in " ⠀" for ch in r))
    cells = np.array([ch not in " ⠀" for ch in mid_row])
    # the middle third of the x range (steps ~3.5-6.5) holds no dot of the flat line
    width = len(mid_row)
    lo, hi = int(width * 0.45), int(width * 0.6)
    assert not cells[lo:hi].any(), mid_row
