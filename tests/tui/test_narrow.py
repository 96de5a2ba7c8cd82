"""A 100-column terminal: the run screen's side panel collapses (`p` or `a` opens it), every
footer keeps `:`, `?` and `q` in view, alerts show the severity reached at each step, and the
fork preview names only the parameters that differ from the parent."""

from __future__ import annotations


import pytest
from textual.widgets import Footer, Input, Static

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from arcctl.tui.screens.fork import ForkScreen
from arcctl.tui.screens.run import RunScreen, alert_text
from jobs.runview import Alert
from tests.tui.guard_events import collapse_warning, view_of_events
from tests.tui.pilot import until

pytestmark = pytest.mark.timeout(120)
NARROW = (100, 40)


def pinned_keys(app) -> dict[str, tuple[int, int]]:
    """Footer keys by action, with the columns they occupy on screen."""
    return {
        k.action: (k.region.x, k.region.right)
        for k in app.screen.query_one(Footer).query("FooterKey")
        if k.region.width
    }


async def test_side_panel_collapses_and_footer_keeps_help_and_quit(runs):
    src = JobSource(None)
    app = ArcApp(source=src, refresh_s=0.05)
    async with app.run_test(size=NARROW) as pilot:
        app.push_screen(RunScreen(src.view(str(runs / "collapsing"))))
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.alerts)
        scr = app.screen
        charts = scr.query_one("#charts")
        # collapsed: the charts take the panel's width (once the layout caught up with the class)
        await until(
            pilot,
            lambda: "-narrow" in scr.classes and not scr.side_shown() and charts.region.right >= NARROW[0] - 1,
        )
        await until(pilot, lambda: "quit" in pinned_keys(app))  # the footer composes its keys after the screen
        keys = pinned_keys(app)
        for action in ("command_palette", "help", "quit"):
            assert action in keys and keys[action][1] <= NARROW[0], keys
        await pilot.press("p")
        await until(pilot, lambda: scr.side_shown())
        await pilot.press("p")
        await until(pilot, lambda: not scr.side_shown())
        await pilot.press("a")  # the alerts live in the panel: `a` opens it and focuses them
        await until(pilot, lambda: scr.side_shown() and app.focused is scr.query_one("#alerts"))
        await pilot.press("question_mark")  # `?` works on a narrow screen too
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        assert "side panel" in str(app.screen.query_one("#help-text", Static).render())


async def test_wide_screen_keeps_the_panel(runs):
    src = JobSource(None)
    app = ArcApp(source=src, refresh_s=0.05)
    async with app.run_test(size=(150, 40)) as pilot:
        app.push_screen(RunScreen(src.view(str(runs / "collapsing"))))
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.alerts)
        assert app.screen.side_shown()
        await pilot.press("p")
        await until(pilot, lambda: not app.screen.side_shown())


def test_alert_shows_the_severity_reached_at_each_step(tmp_path):
    """Guard events carry the first step of each severity; an older event without them says its
    own severity at its own step."""
    view = view_of_events(
        tmp_path / "run",
        [
            collapse_warning(40, "kl_spike", "watch", 40, "w", steps={"watch": 40}),
            collapse_warning(
                45,
                "kl_spike",
                "critical",
                40,
                "kl 0.9 (baseline 0.02)",
                steps={"watch": 40, "warning": 43, "critical": 45},
            ),
            collapse_warning(50, "repetition", "warning", 47, "old"),
            collapse_warning(52, "repetition", "critical", 47, "older"),
        ],
    )
    kl, rep = view.alerts()
    assert kl.steps == {"watch": 40, "warning": 43, "critical": 45}
    assert alert_text(kl).plain == "critical kl_spike watch @ 40 → warning @ 43 → critical @ 45\nkl 0.9 (baseline 0.02)"
    assert rep.severity == "critical" and rep.steps == {"warning": 50, "critical": 52}
    assert alert_text(rep).plain.split("\n")[0] == "critical repetition seen @ 47 → warning @ 50 → critical @ 52"
    bare = Alert("rollback", "warning", 30, "rolled back", [])
    assert alert_text(bare).plain == "warning rollback @ 30\nrolled back"


async def test_fork_preview_names_only_the_changed_parameters(registry):
    app = ArcApp(source=JobSource(registry))
    async with app.run_test(size=NARROW) as pilot:
        app.push_screen(
            ForkScreen(app.source.view(str(registry.get("grpo-tiny-lr1e-04-rp1.02").run_dir)), "checkpoint-40")
        )
        await until(pilot, lambda: isinstance(app.screen, ForkScreen) and app.screen.spec is not None)
        fork = app.screen
        assert "changes  none" in str(fork.query_one("#preview", Static).render())
        fork.query_one("#p-beta", Input).value = "0.05"
        await until(pilot, lambda: fork.spec is not None and fork.spec.params["beta"] == 0.05)
        changes = next(
            ln for ln in str(fork.query_one("#preview", Static).render()).splitlines() if ln.startswith("changes")
        )
        assert changes == "changes  beta: 0.01 → 0.05", changes
        assert "parameters the parent's spec does not record take their defaults" in str(
            fork.query_one("#preview", Static).render()
        )
        fork.query_one("#p-temperature", Input).value = "0.7"  # not in the parent's spec: edited, so listed
        await until(pilot, lambda: fork.spec is not None and fork.spec.params["temperature"] == 0.7)
        assert "temperature: null → 0.7" in str(fork.query_one("#preview", Static).render())
