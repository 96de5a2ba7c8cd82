"""Round 5: names from files and the command line inside messages, and one read of a task file.

A task id is any JSON string: "a\\nb" started a line of its own in the trainer's stderr.log (the
trainer raises the same jobs.* messages) and "x, y" read as two ids in a list of unknown ones.
Every such message quotes the id with jobs.errors.quoted (bare when it is plain). A grpo-refine
job on a Kaggle-format file read the file (and its solutions) once per check at render: the task
check, the refine-record check and the task_ids check each opened it; now it is read once."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from jobs.errors import JobsError, quoted, quoted_list
from jobs.submit import build_specs
from tests.cli_jobs.conftest import one_line_error, run_cli

pytestmark = pytest.mark.timeout(120)

GRID = [[1, 2], [3, 4]]
TASK = {"train": [{"input": GRID, "output": GRID}], "test": [{"input": GRID}]}
HOSTILE = ["a\nb", "x, y", "\x1b]0;pwned\x07", "r\u202eevil", "t\tab"]


def _message(call) -> str:
    with pytest.raises((JobsError, ValueError)) as e:
        call()
    return str(e.value)


def _plain_and_quoted(message: str, tid: str) -> None:
    assert "\n" not in message and "\x1b" not in message and "\u202e" not in message and "\t" not in message
    assert repr(tid) in message, message


def test_quoted_keeps_plain_ids_bare_and_quotes_the_rest():
    assert quoted("00576224") == "00576224" and quoted("arc1/eval:3") == "arc1/eval:3"
    assert quoted("a\nb") == "'a\\nb'" and quoted("x, y") == "'x, y'" and quoted("") == "''"
    assert quoted("z" * 10_000) == "z" * 200 + "… [10000 characters]"
    assert quoted_list(["a", "b c", *"defgh"]) == "a, 'b c', d, e, f (and 2 more)"


@pytest.mark.parametrize("tid", HOSTILE)
def test_a_task_file_quotes_a_hostile_task_id(home, tmp_path, tid):
    bad = {"train": [{"input": [[1, 2], [3]], "output": GRID}], "test": [{"input": GRID}]}
    path = tmp_path / "x_challenges.json"
    path.write_text(json.dumps({tid: bad}))
    msg = _message(lambda: build_specs("grpo", [f"dataset={path}"], "local"))
    _plain_and_quoted(msg, tid)
    # and the solutions file of a valid task
    path.write_text(json.dumps({tid: TASK}))
    (tmp_path / "x_solutions.json").write_text(json.dumps({tid: [GRID, GRID]}))
    msg = _message(lambda: build_specs("grpo", [f"dataset={path}"], "local"))
    _plain_and_quoted(msg, tid)
    assert "2 solutions for 1 test inputs" in msg


@pytest.mark.parametrize("tid", HOSTILE)
def test_unknown_task_ids_are_quoted_in_their_list(home, tmp_path, tid):
    path = tmp_path / "x_challenges.json"
    path.write_text(json.dumps({"ok": TASK}))
    msg = _message(lambda: build_specs("grpo", [f"dataset={path}", f"task_ids={json.dumps([tid])}"], "local"))
    _plain_and_quoted(msg, tid)
    msg = _message(lambda: build_specs("her", [f"dataset={path}", f"task_ids={json.dumps([tid])}"], "local"))
    _plain_and_quoted(msg, tid)
    # the CLI's one line shows the same quoting (its writer escapes what is left)
    one_line_error(
        run_cli("render", "grpo", "-p", f"dataset={path}", "-p", f"task_ids={json.dumps([tid])}"), "task_ids:"
    )


def test_a_her_target_without_train_pairs_is_quoted(home, tmp_path):
    tid = "a\nb"
    path = tmp_path / "t_challenges.json"
    path.write_text(json.dumps({tid: {"train": [], "test": [{"input": GRID}]}}))
    msg = _message(lambda: build_specs("her", [f"dataset={path}"], "local"))
    _plain_and_quoted(msg, tid)


@pytest.mark.parametrize("tid", HOSTILE)
def test_refine_records_and_submissions_quote_a_hostile_task_id(home, tmp_path, tid):
    from jobs.evalmetrics import metrics_from_scored, score_predictions
    from jobs.kaggle_submission import validate_submission
    from jobs.refine import Attempt, PairFeedback, RefineFile, load, select_records, write

    fb = [PairFeedback(output=None, correct=False, pixel_score=0.0)]
    doc = RefineFile(dataset="d", records=[Attempt(task_id=tid, test_index=0, program="p", pairs=fb)])
    _plain_and_quoted(_message(lambda: select_records(doc, "f.json", {})), tid)
    _plain_and_quoted(_message(lambda: select_records(doc, "f.json", {tid: (1, 1)}, task_ids=[tid + "!"])), tid + "!")
    raw = json.loads(doc.model_dump_json())
    raw["records"][0]["test_index"] = -1
    (tmp_path / "r.json").write_text(json.dumps(raw))
    _plain_and_quoted(_message(lambda: load(tmp_path / "r.json")), tid)
    write(tmp_path / "ok.json", doc)
    for problem in validate_submission({tid: "x"}, {tid: 1}) + validate_submission({}, {tid: 1}):
        _plain_and_quoted(problem, tid)
    _plain_and_quoted(_message(lambda: score_predictions([{"task_id": tid}], {})), tid)
    _plain_and_quoted(_message(lambda: metrics_from_scored([], [], [tid])), tid)


def test_a_refine_job_on_a_kaggle_file_reads_it_once_at_render(home, tmp_path):
    """The challenges and solutions files are opened once each by a render that checks the task
    file, the refine records and task_ids (real files; sys.audit sees every open)."""
    from jobs.refine import Attempt, PairFeedback, RefineFile, write

    tasks = tmp_path / "mine_challenges.json"
    tasks.write_text(json.dumps({"t1": TASK, "t2": TASK}))
    sols = tmp_path / "mine_solutions.json"
    sols.write_text(json.dumps({"t1": [GRID], "t2": [GRID]}))
    fb = [PairFeedback(output=None, correct=False, pixel_score=0.0)]
    rec = Attempt(task_id="t1", test_index=0, program="def f(g): return g", pairs=fb)
    refine = tmp_path / "refine.json"
    write(refine, RefineFile(dataset=str(tasks), records=[rec]))
    opened: list[str] = []
    watching = [True]

    def hook(event: str, args: tuple) -> None:
        if watching[0] and event == "open" and isinstance(args[0], (str, Path)) and "mine_" in str(args[0]):
            opened.append(Path(args[0]).name)

    sys.addaudithook(hook)  # a hook cannot be removed: it stops recording at the end of the test
    try:
        build_specs("grpo-refine", [f"refine_dataset={refine}", f"dataset={tasks}", 'task_ids=["t1"]'], "local")
    finally:
        watching[0] = False
    assert sorted(opened) == ["mine_challenges.json", "mine_solutions.json"], opened
