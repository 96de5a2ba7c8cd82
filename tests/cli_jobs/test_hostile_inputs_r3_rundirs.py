"""A run dir whose metrics.jsonl, completions.jsonl or events.jsonl is a folder (a sync tool or a
mistaken `mkdir -p` makes one): `arcctl tail` was an IsADirectoryError traceback (a folder has a
size, so the reader opened it), and so was every reader of the file. Readers now see no lines;
`tail` says in one line which file is a folder."""

from __future__ import annotations

import pytest

from jobs.rundir import JsonlTail
from jobs.runview import RunView
from tests.cli_jobs.conftest import one_line_error, run_cli

pytestmark = pytest.mark.timeout(120)

FILES = ("metrics.jsonl", "completions.jsonl", "events.jsonl")


@pytest.fixture
def folders_run(tmp_path):
    run = tmp_path / "run"
    for name in FILES:
        (run / name / "inside").mkdir(parents=True)
    return run


def test_tail_names_the_file_that_is_a_folder(home, folders_run):
    for kind, name in (("--metrics", "metrics.jsonl"), ("--completions", "completions.jsonl")):
        res = run_cli("tail", str(folders_run), kind)
        one_line_error(res, f"{folders_run / name}: a folder, not the run's {name} file")


def test_readers_see_no_lines_in_a_folder(folders_run):
    for name in FILES:
        tail = JsonlTail(str(folders_run / name))
        assert tail.start_near_end(10) == 0 and tail.read_new() == [] and tail.read_new() == []
    view = RunView(str(folders_run))  # the dashboard's reader of the run
    view.refresh(None)
    assert len(view.completions) == 0 and view.metrics.last_step() is None
