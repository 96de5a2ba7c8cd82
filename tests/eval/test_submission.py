"""Kaggle submissions: ranking, build, validate; every malformed case is named with its reason."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from arcctl.cli.main import app
from jobs import kaggle_submission as S

runner = CliRunner()


def _p(tid, test, train_correct=(True,), code="x", error=None):
    return {"task_id": tid, "test_outputs": test, "train_correct": list(train_correct), "code": code, "error": error}


G1, G2, G3 = [[1]], [[2]], [[3]]


def test_train_correctness_beats_votes():
    preds = [_p("t", [G1], (False,)), _p("t", [G1], (False,)), _p("t", [G1], (False,)), _p("t", [G2], (True,))]
    assert S.rank_candidates(preds, 0) == [G2, G1]


def test_majority_vote_then_shorter_program():
    preds = [
        _p("t", [G1], code="aaaa"),
        _p("t", [G2], code="aaaaaaaa"),
        _p("t", [G2], code="aaaaaaaa"),
        _p("t", [G3], code="a"),
    ]
    # G2 has two votes; G1 and G3 one each, G3's program is shorter
    assert S.rank_candidates(preds, 0) == [G2, G3, G1]


def test_errors_and_non_grids_are_ignored():
    preds = [_p("t", [G1], error="timeout"), _p("t", None), _p("t", [[[1, 10]]]), _p("t", [G2])]
    assert S.rank_candidates(preds, 0) == [G2]


def test_build_fills_two_attempts_and_placeholders_with_plain_ints():
    np_grid = np.array([[1, 2], [3, 4]], dtype=np.int64).tolist()
    np_cells = [[np.int64(5), np.int64(6)]]  # numpy scalars inside lists: must come out as int
    preds = [_p("a", [np_grid, np_cells]), _p("a", [G1, G2])]
    sub = S.build_submission(preds, {"a": 2, "b": 1})
    assert set(sub) == {"a", "b"}
    assert len(sub["a"]) == 2 and len(sub["b"]) == 1
    assert sub["a"][0] == {"attempt_1": [[1, 2], [3, 4]], "attempt_2": G1}
    assert sub["a"][1]["attempt_1"] == [[5, 6]] and sub["a"][1]["attempt_2"] == G2
    assert sub["b"] == [{"attempt_1": [[0]], "attempt_2": [[0]]}]
    assert all(type(v) is int for v in sub["a"][1]["attempt_1"][0])
    json.dumps(sub)  # would raise on numpy types
    assert S.validate_submission(sub, {"a": 2, "b": 1}) == []


def _eval_run(tmp_path, task_tests, preds):
    run = tmp_path / "evalrun"
    (run / "eval").mkdir(parents=True)
    (run / "eval" / "metrics.json").write_text(json.dumps({"aggregate": {}, "task_tests": task_tests}))
    with open(run / "eval" / "predictions.jsonl", "w") as f:
        for p in preds:
            f.write(json.dumps(p) + "\n")
    return run


def test_cli_round_trip_against_builtin_dataset(tmp_path):
    counts = S.dataset_test_counts("arc1/eval")
    tid = sorted(counts)[0]
    run = _eval_run(tmp_path, counts, [_p(tid, [G1] * counts[tid])])
    out = tmp_path / "sub.json"
    r = runner.invoke(app, ["submission", "build", str(run), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert f"{len(counts)} tasks" in r.output
    sub = json.loads(out.read_text())
    assert sub[tid][0]["attempt_1"] == G1
    r = runner.invoke(app, ["submission", "validate", str(out), "--dataset", "arc1/eval"])
    assert r.exit_code == 0, r.output
    assert "valid for arc1/eval" in r.output
    # the same file against another dataset names the first missing task
    r = runner.invoke(app, ["submission", "validate", str(out), "--dataset", "arc1/train"])
    assert r.exit_code == 1
    assert "missing" in r.output and "not in the dataset" in r.output


def test_cli_validate_challenges_file(tmp_path):
    challenges = {"t1": {"train": [], "test": [{"input": [[0]]}, {"input": [[1]]}]}}
    ds = tmp_path / "x_challenges.json"
    ds.write_text(json.dumps(challenges))
    sub = tmp_path / "s.json"
    sub.write_text(json.dumps({"t1": [{"attempt_1": [[1]], "attempt_2": [[1]]}]}))
    r = runner.invoke(app, ["submission", "validate", str(sub), "--dataset", str(ds)])
    assert r.exit_code == 1
    assert "task t1: 1 test entries, the dataset has 2 test inputs" in r.output


GOOD = {"attempt_1": [[1, 2]], "attempt_2": [[0]]}


@pytest.mark.parametrize(
    "sub, expected",
    [
        ({}, "task t1: missing"),
        ({"t1": [GOOD], "zz": [GOOD]}, "task zz: not in the dataset"),
        ({"t1": []}, "task t1: 0 test entries, the dataset has 1 test inputs"),
        ({"t1": GOOD}, "task t1: expected a list of 1 test entries, got dict"),
        ({"t1": [[[1]]]}, "task t1 test 0: expected an object with attempt_1 and attempt_2, got list"),
        ({"t1": [{"attempt_1": [[1]]}]}, "task t1 test 0: missing key attempt_2"),
        ({"t1": [{**GOOD, "attempt_3": [[1]]}]}, "task t1 test 0: unexpected key 'attempt_3'"),
        ({"t1": [{"attempt_1": [[1]], "attempt_2": []}]}, "task t1 test 0 attempt_2: empty grid"),
        (
            {"t1": [{"attempt_1": [1, 2], "attempt_2": [[1]]}]},
            "task t1 test 0 attempt_1: row 0: expected a list, got int (wrong nesting?)",
        ),
        (
            {"t1": [{"attempt_1": [[[1]]], "attempt_2": [[1]]}]},
            "task t1 test 0 attempt_1: cell (0,0): [1] is list, not int",
        ),
        (
            {"t1": [{"attempt_1": [[1.0]], "attempt_2": [[1]]}]},
            "task t1 test 0 attempt_1: cell (0,0): 1.0 is float, not int",
        ),
        (
            {"t1": [{"attempt_1": [[True]], "attempt_2": [[1]]}]},
            "task t1 test 0 attempt_1: cell (0,0): True is bool, not int",
        ),
        (
            {"t1": [{"attempt_1": [["1"]], "attempt_2": [[1]]}]},
            "task t1 test 0 attempt_1: cell (0,0): '1' is str, not int",
        ),
        ({"t1": [{"attempt_1": [[10]], "attempt_2": [[1]]}]}, "task t1 test 0 attempt_1: cell (0,0): 10 outside 0..9"),
        (
            {"t1": [{"attempt_1": [[1, 2], [3]], "attempt_2": [[1]]}]},
            "task t1 test 0 attempt_1: row 1: length 1, row 0 has 2 (not rectangular)",
        ),
        ({"t1": [{"attempt_1": [[0] * 31], "attempt_2": [[1]]}]}, "task t1 test 0 attempt_1: 1x31: larger than 30x30"),
        (
            {"t1": [{"attempt_1": None, "attempt_2": [[1]]}]},
            "task t1 test 0 attempt_1: expected a list of rows, got NoneType",
        ),
        ([GOOD], "top level: expected an object of task ids, got list"),
    ],
)
def test_each_malformed_case_is_named(sub, expected):
    problems = S.validate_submission(sub, {"t1": 1})
    assert expected in problems, problems


def test_cli_names_every_violation_in_a_file(tmp_path):
    ds = tmp_path / "d_challenges.json"
    ds.write_text(
        json.dumps({"t1": {"train": [], "test": [{"input": [[0]]}]}, "t2": {"train": [], "test": [{"input": [[0]]}]}})
    )
    sub = tmp_path / "bad.json"
    sub.write_text(json.dumps({"t1": [{"attempt_1": [[1.5]], "attempt_2": [[1]], "extra": 1}]}))
    r = runner.invoke(app, ["submission", "validate", str(sub), "--dataset", str(ds)])
    assert r.exit_code == 1
    assert "task t2: missing" in r.output
    assert "task t1 test 0: unexpected key 'extra'" in r.output
    assert "task t1 test 0 attempt_1: cell (0,0): 1.5 is float, not int" in r.output


def test_cli_errors_are_one_line(tmp_path):
    r = runner.invoke(app, ["submission", "validate", str(tmp_path / "nope.json"), "--dataset", "arc1/eval"])
    assert r.exit_code == 2 and "not found" in r.output and "Traceback" not in r.output
    f = tmp_path / "s.json"
    f.write_text("{}")
    r = runner.invoke(app, ["submission", "validate", str(f), "--dataset", "arc9/eval"])
    assert r.exit_code == 2 and "dataset 'arc9/eval': unknown" in r.output
    f.write_text("{not json")
    r = runner.invoke(app, ["submission", "validate", str(f), "--dataset", "arc1/eval"])
    assert r.exit_code == 1 and "not valid JSON" in r.output
    r = runner.invoke(app, ["submission", "build", str(tmp_path)])
    assert r.exit_code == 2 and "metrics.json: not found" in r.output
