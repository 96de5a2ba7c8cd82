"""Resuming a run in place from an earlier checkpoint, with the real trainer (tiny model, CPU):
`arcctl resume JOB --checkpoint 2` while checkpoint-4 exists restarts at step 2 (not at the newest
checkpoint while saying "resumed from checkpoint-2"), moves checkpoint-4 and the rows of steps 3-4
into branches/, and writes steps 3-4 again; the dashboard's checkpoints screen (`k`, then `r`) does
the same through the registry."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from jobs import rundir
from tests.cli_jobs.conftest import run_cli, wait_for
from tests.pilot import until
from tests.tiny_params import tiny_grpo_options

TINY = tiny_grpo_options(max_steps=4, max_completion_length=16, save_steps=2, **{"resources.gpus": 0})


def _finished(jid: str, restarts: int = 0) -> dict | None:
    jobs = {j["id"]: j for j in json.loads(run_cli("ls", "--json", check=True).stdout)}
    j = jobs[jid]
    done = j["state"] in ("completed", "failed", "cancelled") and j.get("restarts", 0) >= restarts
    return j if done else None


def _wait_done(jid: str, restarts: int = 0) -> Path:
    job = wait_for(lambda: _finished(jid, restarts), timeout=240, interval=1)
    rd = Path(job["run_dir"])
    assert job["state"] == "completed" and job["exit_code"] == 0, (rd / "stderr.log").read_text()[-3000:]
    return rd


def _steps(path: Path) -> list[int]:
    return [r["step"] for r in rundir.read_jsonl(path)]


def _check_resumed_from_2(rd: Path, branches: int) -> None:
    evs = rundir.read_jsonl(rd / rundir.EVENTS)
    started = [e for e in evs if e["event"] == rundir.EV_STARTED][-1]
    assert started["step"] == 2 and started["resume_from"] == str(rd / "checkpoint-2")
    resumed = [e for e in evs if e["event"] == rundir.EV_RESUMED][-1]
    assert resumed["checkpoint"] == "checkpoint-2" and resumed["moved_checkpoints"] == ["checkpoint-4"]
    folders = sorted((rd / rundir.BRANCHES).iterdir())
    assert len(folders) == branches and resumed["branch"] == f"branches/{folders[-1].name}"
    aside = folders[-1]
    assert _steps(aside / rundir.METRICS) == [3, 4]
    assert {c["step"] for c in rundir.read_jsonl(aside / rundir.COMPLETIONS)} == {3, 4}
    assert json.loads((aside / "checkpoint-4" / "trainer_state.json").read_text())["global_step"] == 4
    # one history again: steps 1-2 from before, 3-4 trained anew, and a new checkpoint-4
    assert _steps(rd / rundir.METRICS) == [1, 2, 3, 4]
    assert [c.name for c in rundir.list_checkpoints(str(rd)) if c.valid] == ["checkpoint-2", "checkpoint-4"]
    assert evs[-1]["event"] == rundir.EV_STOPPED and evs[-1]["step"] == 4


async def _resume_from_dashboard(jid: str, branch: str) -> None:
    from textual.widgets import DataTable, Static

    from arcctl.tui.app import ArcApp
    from arcctl.tui.data import JobSource
    from arcctl.tui.screens.checkpoints import CheckpointsScreen
    from arcctl.tui.screens.confirm import ConfirmScreen
    from arcctl.tui.screens.run import RunScreen
    from jobs.registry import Registry

    app = ArcApp(source=JobSource(Registry()))
    async with app.run_test(size=(150, 48)) as pilot:
        await until(
            pilot, lambda: app.screen.query("#jobs") and app.screen.query_one("#jobs", DataTable).row_count == 1
        )
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, CheckpointsScreen) and app.screen.rows)
        ck = app.screen
        # the branch the CLI resume moved aside is shown with the checkpoints
        status = ck.query_one("#ck-status", Static)
        await until(
            pilot, lambda: f"1 earlier branch(es) moved aside, newest: branches/{branch}" in str(status.render())
        )
        t = ck.query_one("#ck-table", DataTable)
        t.move_cursor(row=[r.name for r in ck.rows].index("checkpoint-2"))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, CheckpointsScreen)
                and any(f"resumed job {jid} from checkpoint-2" in str(n.message) for n in app._notifications)
            ),
        )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_resume_from_an_earlier_checkpoint_restarts_there_cli_and_dashboard(home, tiny_model_dir):
    [jid] = run_cli("submit", "grpo", "-p", f"model_path={tiny_model_dir}", *TINY, "-q", check=True).stdout.split()
    rd = _wait_done(jid)
    assert [c.name for c in rundir.list_checkpoints(str(rd))] == ["checkpoint-2", "checkpoint-4"]
    first_run = (rd / rundir.METRICS).read_text().splitlines()

    out = run_cli("resume", jid, "--checkpoint", "2", check=True).stdout
    assert f"{jid}  resumed from checkpoint-2" in out
    _wait_done(jid, restarts=1)
    _check_resumed_from_2(rd, branches=1)
    aside = next((rd / rundir.BRANCHES).iterdir())
    assert (aside / rundir.METRICS).read_text().splitlines() == first_run[2:]  # moved, byte for byte

    asyncio.run(_resume_from_dashboard(jid, aside.name))
    _wait_done(jid, restarts=2)
    _check_resumed_from_2(rd, branches=2)
