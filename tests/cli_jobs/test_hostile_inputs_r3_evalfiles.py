"""eval/ files of the wrong shape read by `submission build` and `refine-data`: a prediction whose
train_correct is a number, whose code or detail is not text, whose test_index is 'a' or 1e400,
whose task_id is missing or a list, was a TypeError / ValueError / pydantic traceback from inside
the ranking or the refine records. A task_tests count of 1e300 in eval/metrics.json made
`submission build` allocate until it was killed; `true` was taken as 1 and -3 as 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.kaggle_submission import SubmissionError, build_from_eval_run
from jobs.predictions import PredictionError, read_predictions
from jobs.refine import build as build_refine
from jobs.spec import JobSpec
from tests.cli_jobs.conftest import one_line_error, run_cli

pytestmark = pytest.mark.timeout(120)

GOOD = {"task_id": "t1", "sample": 0, "code": "def f(g): return g", "error": None, "test_outputs": [[[1]]]}
BAD_FIELDS = {
    "train_correct": (5, "train_correct: Input should be a valid list"),
    "code": (5, "code: Input should be a valid string"),
    "detail": (5, "detail: Input should be a valid string"),
    "error": ({"kind": "timeout"}, "error: Input should be a valid string"),
    "test_outputs": (5, "test_outputs: Input should be a valid list"),
    "train_outputs": ("[[1]]", "train_outputs: Input should be a valid list"),
    "train_pixel": (["a"], "train_pixel.0: Input should be a valid number"),
    "test_index": (1e400, "test_index: Input should be a finite number"),
    "sample": ("first", "sample: Input should be a valid integer"),
    "task_id": (["t1"], "task_id: Input should be a valid string"),
}


def _eval_run(tmp_path: Path, lines: list[str], task_tests: object = None) -> Path:
    run = tmp_path / "evalrun"
    (run / "eval").mkdir(parents=True, exist_ok=True)
    JobSpec(
        kind="eval", name="e", template="eval", run_dir=str(run), params={"model_path": "m", "dataset": "arc1/eval"}
    ).write()
    metrics = {"aggregate": {}, "task_tests": {"t1": 1} if task_tests is None else task_tests}
    (run / "eval" / "metrics.json").write_text(json.dumps(metrics))
    (run / "eval" / "predictions.jsonl").write_text("".join(line + "\n" for line in lines))
    return run


@pytest.mark.parametrize("field", list(BAD_FIELDS))
def test_a_prediction_field_of_the_wrong_type_is_named_with_its_line(tmp_path, field):
    value, needle = BAD_FIELDS[field]
    run = _eval_run(tmp_path, [json.dumps(GOOD), json.dumps({**GOOD, field: value})])
    where = f"{run / 'eval' / 'predictions.jsonl'}:2: "
    with pytest.raises(SubmissionError, match="^" + _re(where + needle)):
        build_from_eval_run(run)
    with pytest.raises(PredictionError, match="^" + _re(where + needle)):
        build_refine([(str(run), read_predictions(run / "eval" / "predictions.jsonl"))], "arc1/eval")


def _re(text: str) -> str:
    import re

    return re.escape(text)


def test_through_the_cli_one_line_and_nothing_written(home, tmp_path):
    run = _eval_run(tmp_path, [json.dumps(GOOD), json.dumps({**GOOD, "train_correct": 5}), "{torn"])
    out = tmp_path / "out.json"
    one_line_error(run_cli("submission", "build", str(run), "-o", str(out)), "predictions.jsonl:2: train_correct")
    one_line_error(run_cli("refine-data", str(run), "-o", str(out)), "predictions.jsonl:2: train_correct")
    assert not out.exists()


def test_good_predictions_still_build(tmp_path):
    odd_outputs = {**GOOD, "sample": 1, "code": "x", "test_outputs": [[["a"]]], "train_outputs": [5]}
    lines = [json.dumps(GOOD), json.dumps(odd_outputs), '{"task_id": "t1", "torn']
    run = _eval_run(tmp_path, lines)
    assert build_from_eval_run(run) == {"t1": [{"attempt_1": [[1]], "attempt_2": [[0]]}]}
    # a torn last line is skipped by build (a stopped eval), named by refine-data (as before)
    with pytest.raises(PredictionError, match="predictions.jsonl:3: not valid JSON"):
        build_refine([(str(run), read_predictions(run / "eval" / "predictions.jsonl"))], "arc1/eval")
    doc = build_refine([(str(run), read_predictions(run / "eval" / "predictions.jsonl", True))], "arc1/eval")
    assert [r.test_outputs for r in doc.records] == [[[[1]]], [None]]  # a non-grid output is kept as missing


@pytest.mark.parametrize("count", [1e300, True, -3, 0, "2", 10**6])
def test_a_test_input_count_that_is_no_count_is_refused(tmp_path, count):
    run = _eval_run(tmp_path, [json.dumps(GOOD)], task_tests={"t1": count})
    with pytest.raises(SubmissionError, match="metrics.json: task_tests.t1: .* is not a number of test inputs"):
        build_from_eval_run(run)
