"""`arcctl open RUN`: the dashboard straight on one run, found by path or registry job."""

from __future__ import annotations

import subprocess
import sys

import pytest

from arcctl.cli.resolve import resolve_run
from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from arcctl.tui.screens.run import RunScreen
from tests.tui.pilot import until

pytestmark = pytest.mark.timeout(120)


def test_open_resolves_a_run_dir_and_a_registry_job(registry, runs):
    local = resolve_run(str(runs / "healthy"))
    assert (local.run_dir, local.host) == (str(runs / "healthy"), None)
    job = next(j for j in registry.list() if j.run_dir == str(runs / "collapsing"))
    found = resolve_run(job.id)
    assert found.run_dir == str(runs / "collapsing") and found.host is None


def test_open_unknown_run_is_one_line_error(arc_home):
    proc = subprocess.run(
        [sys.executable, "-m", "arcctl.cli.main", "open", str(arc_home / "nope")], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope" in lines[0]


async def test_app_opened_on_a_run_shows_its_run_screen(registry, runs):
    app = ArcApp(run_dir=str(runs / "collapsing"), source=JobSource(registry))
    async with app.run_test(size=(150, 48)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        assert app.screen.view.run_dir == str(runs / "collapsing")
