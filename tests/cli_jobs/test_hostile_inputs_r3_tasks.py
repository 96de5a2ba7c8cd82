"""ARC task files a job loads, checked at render as the trainer loads them. A Kaggle-format file
with a ragged row, a colour 10, an empty or 1000x1000 grid or a train pair without its output
rendered and submitted fine for GRPO, eval and HER (HER only looked for train pairs): the job
queued, loaded its model and only then stopped on the file. A file of 100k `[` was a
RecursionError traceback in the trainer's loader (and in `arcctl prompt`)."""

from __future__ import annotations

import json

import pytest

from jobs.errors import SpecError
from jobs.submit import build_specs
from tests.cli_jobs.conftest import one_line_error, run_cli, tree

pytestmark = pytest.mark.timeout(120)

GOOD_PAIR = {"input": [[0, 1], [1, 0]], "output": [[1, 0], [0, 1]]}


def _task(**train_pair) -> dict:
    return {"train": [{**GOOD_PAIR, **train_pair}], "test": [{"input": [[0, 1], [1, 0]]}]}


BAD_TASKS = {
    "ragged": (_task(input=[[0, 1], [1]]), "train[0].input: row 1 has 1 cells, expected 2"),
    "colour_10": (_task(output=[[10, 0], [0, 1]]), "train[0].output: cell [0][0] is 10, expected an integer 0..9"),
    "negative": (_task(output=[[0, -1], [0, 1]]), "cell [0][1] is -1"),
    "empty_grid": (_task(input=[]), "train[0].input: has 0 rows, expected 1..30"),
    "empty_row": (_task(input=[[]]), "row 0 has 0 cells"),
    "huge_grid": (_task(input=[[0] * 1000] * 1000), "train[0].input: has 1000 rows, expected 1..30"),
    "no_output": ({"train": [{"input": [[0]]}], "test": [{"input": [[0]]}]}, "train[0]: missing 'output'"),
    "text_cell": (_task(input=[["1"]]), "cell [0][0] is '1'"),
    "bool_cell": (_task(input=[[True]]), "cell [0][0] is True"),
    "test_without_input": ({"train": [GOOD_PAIR], "test": [{}]}, "test[0]: missing 'input'"),
}


@pytest.fixture
def task_files(tmp_path):
    files = {}
    for name, (bad, _) in BAD_TASKS.items():
        # the bad task is the second one: the whole file is loaded, not only the selected tasks
        files[name] = tmp_path / f"{name}_challenges.json"
        files[name].write_text(json.dumps({"fine": _task(), "t1": bad}))
    return files


@pytest.mark.parametrize("kind", ["grpo", "eval", "her"])
def test_a_task_file_the_trainer_would_refuse_is_refused_at_render(home, task_files, kind):
    for name, (_, needle) in BAD_TASKS.items():
        path = task_files[name]
        with pytest.raises(SpecError, match="^" + "dataset " + str(path) + ": task t1 .*" + _re(needle)):
            build_specs(kind, [f"dataset={path}", 'task_ids=["fine"]'], "local")


def _re(text: str) -> str:
    import re

    return re.escape(text)


def test_the_trainer_refuses_the_same_files(task_files):
    pytest.importorskip("numpy")
    from trainer.data import DatasetError, load_tasks

    for name, (_, needle) in BAD_TASKS.items():
        with pytest.raises(DatasetError, match=_re(needle)):
            load_tasks(str(task_files[name]))


def test_a_deeply_nested_task_file_is_one_line(home, tmp_path):
    deep = tmp_path / "deep_challenges.json"
    deep.write_text("[" * 100_000)
    before = tree(home)
    one_line_error(run_cli("render", "her", "-p", f"dataset={deep}"), str(deep), "nested too deeply")
    assert tree(home) == before
    from trainer.data import DatasetError, load_tasks

    with pytest.raises(DatasetError, match="nested too deeply"):  # was a RecursionError traceback
        load_tasks(str(deep))


def test_good_task_files_and_folders_still_render(home, tmp_path):
    good = tmp_path / "good_challenges.json"
    good.write_text(json.dumps({"a": _task(), "b": _task()}))
    (tmp_path / "good_solutions.json").write_text(json.dumps({"a": [[[1]]], "b": [[[2]]]}))
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(_task()))
    for kind in ("grpo", "eval", "her"):
        build_specs(kind, [f"dataset={good}", 'task_ids=["b"]'], "local")
    build_specs("grpo", [f"dataset={folder}"], "local")
    (folder / "b.json").write_text(json.dumps(_task(input=[[0, 1], [1]])))
    with pytest.raises(SpecError, match=f"dataset {folder / 'b.json'}: task b train"):
        build_specs("eval", [f"dataset={folder}"], "local")
    (tmp_path / "empty_challenges.json").write_text("{}")
    with pytest.raises(SpecError, match="empty_challenges.json: contains no tasks"):
        build_specs("grpo", [f"dataset={tmp_path / 'empty_challenges.json'}"], "local")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpecError, match="empty: folder has no .json task files"):
        build_specs("eval", [f"dataset={tmp_path / 'empty'}"], "local")
    (tmp_path / "good_solutions.json").write_text(json.dumps({"a": [[[1]]], "b": [[[2, 2], [3]]]}))
    with pytest.raises(SpecError, match="good_solutions.json: task b solutions\\[0\\]: row 1 has 1 cells"):
        build_specs("grpo", [f"dataset={good}"], "local")


@pytest.mark.timeout(30)
def test_a_solutions_sibling_that_never_ends_is_refused_not_read(home, tmp_path):
    """The trainer reads `x_solutions.json` beside `x_challenges.json`: a named pipe there (or a
    link to /dev/zero) hung its loader, and render, which now reads the same files."""
    import os

    challenges = tmp_path / "x_challenges.json"
    challenges.write_text(json.dumps({"a": _task()}))
    solutions = tmp_path / "x_solutions.json"
    os.mkfifo(solutions)
    with pytest.raises(SpecError, match=f"dataset {solutions}: not a regular file"):
        build_specs("eval", [f"dataset={challenges}"], "local")
    solutions.unlink()
    solutions.symlink_to("/dev/zero")
    with pytest.raises(SpecError, match=f"dataset {solutions}: not a regular file"):
        build_specs("grpo", [f"dataset={challenges}"], "local")
    from trainer.data import DatasetError, load_tasks

    with pytest.raises(DatasetError, match="not a regular file"):
        load_tasks(str(challenges))
