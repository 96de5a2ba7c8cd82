"""Round 6: a `rollback` event whose `child_run_dir` points out of the run's folder (`../victim`,
an absolute path to another run, a link beside the run to elsewhere). The trainer follows that
link when a job is requeued and the console draws it: both used to go wherever it pointed, as long
as a spec.json was there (the trainer then trained in, and appended to, another run's folder). The
guard writes the child beside its parent, so only a folder beside the run is followed; the
trainer refuses a run whose event names anything else, in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs import lineage, overlay, records
from jobs.runview import RunView
from tests.tiny_params import job_spec
from trainer import runner
from trainer.runfiles import RunFiles


def _run(path: Path) -> Path:
    job_spec("grpo", path, {"model_path": "tiny", "dataset": "arc1/train"}).write()
    return path


def _rolled_back_to(run: Path, named: str) -> None:
    files = RunFiles(run, enabled=True)
    files.started(step=0)
    files.event(records.EV_ROLLBACK, step=3, status=records.ROLLBACK_CONTINUED, child_run_dir=named)
    files.event(records.EV_STOPPED, reason="collapse", step=3)
    files.close()


def _view(path) -> RunView:
    view = RunView(str(path))
    view.refresh()
    return view


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    victim = _run(tmp_path / "victim")  # another run, not beside ours
    return root, victim


@pytest.mark.parametrize("how", ["dotdot", "link"])
def test_a_child_outside_the_run_is_never_followed(runs, capsys, how):
    root, victim = runs
    a = _run(root / "a")
    if how == "dotdot":
        named = f"{root}/../victim"
    else:
        (root / "a_fork2").symlink_to(victim)
        named = str(root / "a_fork2")
    _rolled_back_to(a, named)

    assert lineage.rollback_child(str(a)) is None
    assert lineage.rollback_chain(str(a)) == [str(a)]
    # the console draws the run alone, not through the other folder
    assert overlay.rollback_tip(_view(a), _view).run_dir == str(a)

    ran: list[str] = []
    assert runner.run_chain(a, lambda run: ran.append(str(run)) or 0) == runner.EXIT_USER_ERROR
    assert ran == []  # neither the other folder nor the collapsed run is trained
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith(f"trainer: error: {a}/events.jsonl: rollback event: child_run_dir ")
    assert "not followed" in lines[0]
    assert not (victim / "events.jsonl").exists()
    last = [json.loads(x) for x in (a / "events.jsonl").read_text().splitlines()][-1]
    assert last["event"] == "error" and "not followed" in last["message"]


def test_an_absolute_child_elsewhere_is_looked_for_beside_the_run(runs):
    """/elsewhere/victim names the folder `victim` beside the run, which is not there: no child
    yet (as for a child without spec.json), never the other run of that name."""
    root, victim = runs
    a = _run(root / "a")
    _rolled_back_to(a, str(victim))
    assert lineage.rollback_child(str(a)) is None and lineage.rollback_chain(str(a)) == [str(a)]
    assert overlay.rollback_tip(_view(a), _view).run_dir == str(a)
    ran: list[str] = []
    assert runner.run_chain(a, lambda run: ran.append(str(run)) or 0) == 0
    assert ran == [str(a)] and not (victim / "events.jsonl").exists()


def test_a_child_written_under_another_path_is_found_beside_the_run(runs):
    """The trainer wrote the child's path as its host saw it (another mount point, a linked runs
    root); the child is the folder of that name beside the run, wherever the run is read from."""
    root, _ = runs
    a, b = _run(root / "a"), _run(root / "a_fork2")
    _rolled_back_to(a, "/mnt/elsewhere/runs/a_fork2")
    assert lineage.rollback_chain(str(a)) == [str(a), str(b)]
    assert overlay.rollback_tip(_view(a), _view).run_dir == str(b)
    ran: list[str] = []
    assert runner.run_chain(a, lambda run: ran.append(run.name) or 0) == 0
    assert ran == ["a_fork2"]
