"""The overlay beyond hand-picked runs: a job the guard rolled back is drawn on through its
rollback child (which is no registry row) with the rollback step marked, from the jobs screen and
`arcctl compare --plot`; runs chosen by sweep group (`g` on the jobs screen, `--group`) or by a
name regex (`--match`). The rollback child is the one trainer.guard writes (its spec and the
`rollback` event through RunFiles); the sweep is built by jobs.submit as `arcctl submit` builds it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from arcctl.tui.screens.jobs import JobsScreen
from tests.cli_jobs.conftest import one_line_error, run_cli
from tests.tui.pilot import until

pytestmark = pytest.mark.timeout(120)
FIXTURES = Path(__file__).parent / "fixtures" / "runs"
SIZE = (150, 48)


def roll_back(run: Path, rows: range = range(41, 61)) -> Path:
    """What the guard leaves when a critical alert stops RUN (first warning at step 45): the child
    spec from the newest checkpoint before it, the `continued` rollback event, and the child's own
    rows of the training that went on in it."""
    from jobs import records
    from jobs.spec import JobSpec
    from trainer.guard import rollback_spec
    from trainer.runfiles import RunFiles

    child = rollback_spec(JobSpec.read(run), str(run), 45)
    child.write()
    files = RunFiles(str(run), enabled=True)
    files.event(
        records.EV_ROLLBACK,
        step=50,
        status=records.ROLLBACK_CONTINUED,
        child_run_dir=child.run_dir,
        child_name=child.name,
        checkpoint=child.parent.checkpoint,
    )
    files.close()
    with open(Path(child.run_dir) / "metrics.jsonl", "w") as f:
        for s in rows:
            f.write(json.dumps({"step": s, "time": 1767230000.0 + s, "reward": 0.5}) + "\n")
    return Path(child.run_dir)


def test_overlay_follows_a_rollback_down_to_the_child(runs):
    from jobs.overlay import overlay
    from jobs.runview import RunView

    child = roll_back(runs / "collapsing")
    opened: dict[str, RunView] = {}

    def view_for(d: str) -> RunView:
        if d not in opened:
            opened[d] = RunView(d)
            opened[d].refresh(completion_bytes=0)
        return opened[d]

    parent = view_for(str(runs / "collapsing"))
    line, tail = (lines := overlay([parent], "reward", 100, view_for=view_for))[0]
    marks = lines[1]
    assert JSON_SPEC(child)["parent"]["checkpoint"] == "checkpoint-40"  # newest before the warning at 45
    assert line.xs[0] == 1.0 and line.xs[-1] == 60.0  # the parent up to 40, then the child (not 70)
    assert line.rollback_steps == [40.0] and line.fork_steps == []
    assert max(x for x in line.xs if x <= 40) == 40.0 and all(not 40 < x < 41 for x in line.xs)
    assert 60.0 not in marks.checkpoints  # the parent's save after the rollback point is not on this line
    # the parent's rows after checkpoint-40, the collapse the guard went back from, are drawn too
    assert not line.rolled_back and tail.rolled_back and tail.run == line.run == 0
    assert tail.xs[0] == 41.0 and tail.xs[-1] == 70.0 and tail.label.endswith("(rolled back)")
    assert {(50.0, "warning"), (67.0, "critical")} <= set(marks.alerts)  # what made the guard roll back
    # a rollback event naming a child that has no spec.json (not written yet) draws the run alone
    shutil.rmtree(child)
    opened.clear()
    [line], _ = overlay([view_for(str(runs / "collapsing"))], "reward", 100, view_for=view_for)
    assert line.xs[-1] == 70.0 and line.rollback_steps == []


def JSON_SPEC(run: Path) -> dict:
    return json.loads((run / "spec.json").read_text())


async def compare_collapsing(pilot, app) -> None:
    """From the jobs screen: filter to the collapsing run and open the compare screen on it."""
    await until(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen.query_one("#jobs").row_count == 2)
    await pilot.press("slash", *"collapsing", "enter")
    await until(pilot, lambda: app.screen.query_one("#jobs").row_count == 1)
    await pilot.press("c")


async def test_compare_from_the_jobs_screen_draws_the_rollback_chain(registry, runs):
    from arcctl.tui.screens.compare import CompareScreen
    from arcctl.tui.widgets.overlay_chart import OverlayChart

    roll_back(runs / "collapsing")
    app = ArcApp(source=JobSource(registry), refresh_s=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await compare_collapsing(pilot, app)

        def drawn() -> bool:
            s = app.screen
            if not isinstance(s, CompareScreen) or not s.query(OverlayChart):
                return False
            lines = s.query_one(OverlayChart).lines
            return len(lines) == 2 and bool(lines[0].xs) and lines[0].xs[-1] == 60.0

        await until(pilot, drawn)
        chart = app.screen.query_one(OverlayChart)
        assert chart.lines[0].rollback_steps == [40.0]
        # the collapse after checkpoint-40 is drawn beside the chain, in the run's colour dimmed
        assert chart.lines[1].rolled_back and chart.lines[1].xs[-1] == 70.0
        assert [s.style for s in chart.picture.series] == ["bright_cyan", "dim bright_cyan"]
        assert "dim bright_cyan" in {sp.style for sp in chart.render().spans}
        assert "┃ rollback" in chart.picture.title and any(m.char == "┃" for m in chart.picture.marks)
        status = lambda: str(app.screen.query_one("#cmp-status").render())  # noqa: E731
        await until(pilot, lambda: "1 linked run(s) drawn as chains" in status(), timeout=10)


async def test_compare_screen_tables_show_the_rollback_childs_values(registry, runs):
    """The compare screen's metric table and eval table show a rolled-back run's outcome: the newest
    rollback child's last values, its column and row saying so, as the chart draws the chain."""
    from textual.widgets import DataTable

    from arcctl.tui.screens.compare import CompareScreen

    child = roll_back(runs / "collapsing")
    parent, name = JSON_SPEC(runs / "collapsing")["name"], JSON_SPEC(child)["name"]
    (child / "eval").mkdir()
    shutil.copy(runs / "healthy" / "eval" / "metrics.json", child / "eval" / "metrics.json")
    app = ArcApp(source=JobSource(registry), refresh_s=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await compare_collapsing(pilot, app)

        def heads() -> list[str]:
            s = app.screen
            if not isinstance(s, CompareScreen) or not s.query("#cmp-table"):
                return []
            return [str(c.label) for c in s.query_one("#cmp-table", DataTable).columns.values()]

        await until(pilot, lambda: len(heads()) == 2)
        head, _, tail = heads()[1].partition(" → ")
        assert head == parent[:28] and tail and name.endswith(tail.lstrip("…"))
        metrics = app.screen.query_one("#cmp-table", DataTable)
        assert str(metrics.get_row_at(0)[0]) == "step" and str(metrics.get_row_at(0)[1]) == "60"  # the child's, not 70
        await until(pilot, lambda: app.screen.eval_table is not None)
        assert [r.label for r in app.screen.eval_table.rows] == [f"collapsing → {child.name}"]


def test_compare_plot_draws_the_rollback_chain(arc_home, tmp_path):
    run = tmp_path / "collapsing"
    shutil.copytree(FIXTURES / "collapsing", run)
    spec = JSON_SPEC(run)
    spec["run_dir"] = str(run)
    (run / "spec.json").write_text(json.dumps(spec))
    roll_back(run)
    res = run_cli("compare", str(run), "--plot", "reward", "--width", "90", "--height", "12", check=True)
    out = res.stdout.splitlines()
    assert out[0].startswith("reward") and out[0].rstrip().endswith("┃ rollback")
    assert out[11].split() == ["1", "35.5", "70"]  # the chain to the child's 60, the rolled-back rows to 70
    assert "┃" in "\n".join(out[1:11])
    assert out[-1] == "(rolled back at step 40: drawn on in the child run dirs, the rolled-back rows dimmed)"
    assert out[12].count("■") == 2 and "(rolled back)" in out[12]


def sweep_in_registry(registry, runs: Path) -> list:
    """A two-point sweep (W&B off), built as `arcctl submit grpo -p learning_rate=…,…` builds it
    (each point's spec records the sweep's group), with the fixture runs' rows, finished."""
    from jobs.submit import build_specs

    specs = build_specs("grpo", ["model_path=models/tiny", "learning_rate=3e-6,4e-6"], "local", registry=registry)
    for spec, rows_from in zip(specs, ("healthy", "collapsing")):
        shutil.copytree(runs / rows_from, spec.run_dir)
        spec.write()
        registry.set_state(registry.reserve(spec), "completed", exit_code=0)
    return specs


async def test_g_selects_the_current_jobs_sweep_group_and_c_compares_it(registry, runs):
    from arcctl.tui.screens.compare import CompareScreen

    sweep = sweep_in_registry(registry, runs)
    group = sweep[0].params["wandb_group"]
    assert group and sweep[1].params["wandb_group"] == group
    app = ArcApp(source=JobSource(registry), refresh_s=0.05)
    async with app.run_test(size=SIZE) as pilot:
        src = app.source
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, JobsScreen)
                and app.screen.query_one("#jobs").row_count == 4
                and all(v.spec_read for v in src.views.values())
            ),
            timeout=20,
        )
        jobs = app.screen
        by_dir = {r.run_dir: r.key for r in jobs.rows}
        await pilot.press("slash", *"healthy", "enter")  # the cursor on a job of no group: nothing selected
        await until(pilot, lambda: jobs.query_one("#jobs").row_count == 1, timeout=20)
        await pilot.press("g")
        assert jobs.marked == set()
        await pilot.press("escape")  # clear the filter, the cursor to a sweep point
        await until(pilot, lambda: jobs.query_one("#jobs").row_count == 4)
        for _ in range(4):  # the cursor up to the sweep's second point
            if jobs.current() is not None and jobs.current().run_dir == sweep[1].run_dir:
                break
            await pilot.press("up")
        assert jobs.current().run_dir == sweep[1].run_dir
        await pilot.press("g")
        assert jobs.marked == {by_dir[s.run_dir] for s in sweep}
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        assert sorted(v.run_dir for v in app.screen.views) == sorted(s.run_dir for s in sweep)


def test_compare_plot_chooses_runs_by_group_and_by_name_regex(registry, runs):
    sweep = sweep_in_registry(registry, runs)
    group = sweep[0].params["wandb_group"]
    res = run_cli("compare", "--plot", "reward", "--group", group, "--width", "90", "--height", "12", check=True)
    assert res.stdout.splitlines()[12] == "■ learning_rate=3e-06   ■ learning_rate=4e-06   "
    assert all("_lr3e-6_" in s.name or "_lr4e-6_" in s.name for s in sweep)  # the template's name pattern
    res = run_cli(
        "compare", "--plot", "reward", "--match", "_lr[34]e-6_", "--width", "90", "--height", "12", check=True
    )
    assert res.stdout.splitlines()[12] == "■ learning_rate=3e-06   ■ learning_rate=4e-06   "
    # a run named on the command line and a regex: the runs are drawn once each
    healthy, collapsing = (JSON_SPEC(runs / n)["name"] for n in ("healthy", "collapsing"))
    res = run_cli("compare", str(runs / "healthy"), "--plot", "reward", "--match", f"^{collapsing}$", check=True)
    assert res.stdout.count("■") == 2
    res = run_cli("compare", str(runs / "healthy"), "--plot", "reward", "--match", f"^{healthy}$", check=True)
    assert res.stdout.count("■") == 1  # named and matched: drawn once
    one_line_error(run_cli("compare", "--plot", "reward", "--group", "nosuch"), "--group 'nosuch'", group)
    one_line_error(run_cli("compare", "--plot", "reward", "--match", "zzz"), "--match 'zzz'", "no job name matches")
    one_line_error(
        run_cli("compare", "--plot", "reward", "--match", "(lr"), "--match '(lr'", "not a regular expression"
    )
    one_line_error(run_cli("compare", "--group", group), "--plot")
