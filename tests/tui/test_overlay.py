"""Runs overlaid on shared axes (jobs.overlay + the compare screen): a fork drawn as one chain
through its parent up to the fork step, legends naming the parameters that differ, checkpoint and
alert markers (also on the run screen's charts), and new rows drawn while the screen is open."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from jobs.overlay import chain, checkpoint_step, differing_params, legends, markers, overlay, thin
from jobs.runview import RunView
from tests.tui.pilot import comparing_two, until


pytestmark = pytest.mark.timeout(120)


def make_fork(runs: Path, parent: str = "healthy", at: int = 20, steps: int = 30, lr: float = 5e-7) -> Path:
    """A fork of `parent` from checkpoint-`at`: its rows start after the fork step, as a resumed
    HF trainer writes them."""
    pdir = runs / parent
    spec = json.loads((pdir / "spec.json").read_text())
    child = runs / f"{parent}-fork{at}"
    child.mkdir()
    spec.update(
        name=child.name,
        run_dir=str(child),
        parent={"run_dir": str(pdir), "checkpoint": f"checkpoint-{at}", "name": spec["name"]},
    )
    spec["params"]["learning_rate"] = lr
    (child / "spec.json").write_text(json.dumps(spec))
    with open(child / "metrics.jsonl", "w") as f:
        for s in range(at + 1, at + steps + 1):
            f.write(json.dumps({"step": s, "time": 1767230000.0 + s, "reward": 0.9}) + "\n")
    (child / "events.jsonl").write_text(json.dumps({"event": "checkpoint_saved", "step": at + 10, "time": 1.0}) + "\n")
    return child


def test_fork_is_one_chain_through_its_parent(runs):
    child = make_fork(runs)
    views = {}

    def view_for(d):
        v = views.setdefault(d, RunView(d))
        v.refresh()
        return v

    cv = view_for(str(child))
    segs = chain(cv, view_for)
    assert [Path(s.view.run_dir).name for s in segs] == ["healthy", "healthy-fork20"]
    assert (segs[0].lo, segs[0].hi, segs[1].lo, segs[1].hi) == (None, 20.0, 20.0, None)
    lines, marks = overlay([cv], "reward", width=200, view_for=view_for)
    (line,) = lines
    parent_rows = [json.loads(x) for x in (runs / "healthy" / "metrics.jsonl").read_text().splitlines()]
    assert line.xs == [float(s) for s in range(1, 51)]  # parent's 1..20, then the fork's 21..50
    assert line.ys[:20] == [r["reward"] for r in parent_rows[:20]] and set(line.ys[20:]) == {0.9}
    assert line.fork_steps == [20.0]
    assert marks.checkpoints == [20.0, 30.0]  # the parent's checkpoint-20, the fork's own at 30 (not the parent's 40)
    alone, _ = overlay([cv], "reward", width=200)  # without parents: only the fork's rows
    assert alone[0].xs[0] == 21.0


def test_a_cycle_in_parent_links_ends_the_chain(runs):
    child = make_fork(runs)
    spec = json.loads((runs / "healthy" / "spec.json").read_text())
    spec["parent"] = {"run_dir": str(child), "checkpoint": "checkpoint-30"}  # hand-edited nonsense
    (runs / "healthy" / "spec.json").write_text(json.dumps(spec))
    views = {}
    segs = chain(RunView(str(child)), lambda d: views.setdefault(d, RunView(d)))
    assert len(segs) == 2


def test_legends_name_the_parameters_that_differ(runs):
    a, b = make_fork(runs, lr=5e-7), make_fork(runs, parent="collapsing", lr=2e-6)
    va, vb, vh = RunView(str(a)), RunView(str(b)), RunView(str(runs / "healthy"))
    assert differing_params([va.spec, vb.spec]) == ["learning_rate"]
    assert legends([va, vb]) == ["learning_rate=5e-07", "learning_rate=2e-06"]
    assert legends([vh, RunView(str(runs / "collapsing"))]) == [vh.name(), "grpo-tiny-lr1e-04-rp1.02"]  # same params


def test_markers_and_helpers(runs):
    v = RunView(str(runs / "collapsing"))
    v.refresh()
    m = markers(v)
    assert m.checkpoints == [20.0, 40.0, 60.0]
    assert (45.0, "warning") in m.alerts or any(sev == "warning" for _, sev in m.alerts)
    assert markers(v, lo=20, hi=40).checkpoints == [40.0]
    assert thin(range(1000), 5) == [0, 250, 500, 749, 999] and thin([3, 1], 5) == [1, 3]
    assert checkpoint_step("/x/checkpoint-120/") == 120 and checkpoint_step(None) is None


async def test_compare_screen_overlays_chains_and_follows_new_rows(runs):
    from arcctl.tui.screens.compare import CompareScreen
    from arcctl.tui.widgets.overlay_chart import OverlayChart

    child = make_fork(runs)
    src = JobSource(None)
    app = ArcApp(source=src, refresh_s=0.05)
    async with app.run_test(size=(150, 48)) as pilot:
        await pilot.pause(0.2)
        app.push_screen(CompareScreen([src.view(str(child)), src.view(str(runs / "collapsing"))]))
        await until(pilot, lambda: comparing_two(app))
        chart = app.screen.query_one(OverlayChart)
        fork_line, other = chart.lines
        assert fork_line.xs[0] == 1.0 and fork_line.fork_steps == [20.0] and other.xs[-1] == 70.0
        assert "1 linked run(s) drawn as chains" in str(app.screen.query_one("#cmp-status").render())
        with open(child / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"step": 51, "time": 1767230051.0, "reward": 0.1}) + "\n")
        await until(pilot, lambda: app.screen.query_one(OverlayChart).lines[0].xs[-1] == 51.0)
        await pilot.press("m")
        await until(pilot, lambda: app.screen.metric == "reward_std" and app.screen.query_one(OverlayChart).lines[1].xs)


async def test_run_screen_charts_carry_checkpoint_and_alert_markers(runs):
    from arcctl.tui.screens.run import RunScreen
    from arcctl.tui.widgets.charts import MetricChart

    drawn = []
    real = MetricChart.draw

    def spy(self, history, smoothing=0.0, marks=None):
        drawn.append(marks)
        return real(self, history, smoothing, marks)

    MetricChart.draw = spy
    try:
        src = JobSource(None)
        app = ArcApp(source=src, refresh_s=0.05)
        async with app.run_test(size=(150, 48)) as pilot:
            await pilot.pause(0.2)
            app.push_screen(RunScreen(src.view(str(runs / "collapsing"))))
            await until(pilot, lambda: any(m is not None and m.alerts for m in drawn))
            m = next(m for m in drawn if m is not None and m.alerts)
            assert m.checkpoints == [20.0, 40.0, 60.0]
    finally:
        MetricChart.draw = real


def test_braille_renderer_draws_lines_markers_and_labels():
    from arcctl.tui.widgets.braille import PALETTE, Picture, Series, VMark, legend, render

    pic = Picture(
        40,
        8,
        [Series([0, 10], [0.0, 1.0], "a"), Series([0, 10], [float("nan"), float("nan")], "b")],
        [VMark(5, "red", "│")],
        "t",
    )
    text = render(pic)
    rows = text.plain.split("\n")
    assert rows[0] == "t" and len(rows) == 8  # title, 6 plot rows, x labels
    plot = [r[9:] for r in rows[1:7]]
    assert plot[-1][0] != " " and plot[0][-1] != " "  # the diagonal runs from bottom left to top right
    assert all(0x2800 <= ord(ch) < 0x2900 or ch in " │" for r in plot for ch in r)
    assert any("│" in r for r in plot)  # the marker where no line passes
    assert rows[1].startswith("       1┤") and rows[6].startswith("       0┤")
    assert rows[7].split() == ["0", "5", "10"]
    assert {sp.style for sp in text.spans} >= {PALETTE[0], "red"}  # series "b" is all NaN: not drawn
    assert PALETTE[1] not in {sp.style for sp in text.spans}
    assert legend(pic).plain == "■ a   ■ b   "
    assert render(Picture(40, 8, [Series([], [])])).plain.endswith("(no data)")
    flat = render(Picture(30, 6, [Series([3, 3], [2.0, 2.0])])).plain  # one x, one y: no division by zero
    assert "⠀" not in flat and any(0x2800 < ord(c) < 0x2900 for c in flat)
