"""`arcctl compare` on eval metrics files of the wrong shape (hand-edited, truncated by another
tool, written by a future version): one error line naming the file and the field, exit code 2."""

from __future__ import annotations

import pytest

from tests.cli_jobs.conftest import run_cli

BAD = {
    "curve-list": ('{"dataset": "d", "aggregate": {"pass_at_k": [1, 2]}}', "aggregate.pass_at_k: expected an object"),
    "k-not-int": ('{"dataset": "d", "aggregate": {"pass_at_k": {"x": 0.5}}}', "'x' is not a sample count"),
    "k-float": ('{"dataset": "d", "aggregate": {"pass_at_k": {"1e400": 0.5}}}', "'1e400' is not a sample count"),
    "inf": ('{"dataset": "d", "aggregate": {"pass_at_k": {"1": Infinity}}}', "pass_at_k.1: expected a number"),
    "null-fraction": ('{"dataset": "d", "aggregate": {"pass_at_k": {"1": null}}}', "pass_at_k.1: expected a fraction"),
    "above-one": ('{"dataset": "d", "aggregate": {"pass_at_k": {"2": 1.5}}}', "pass_at_k.2: expected a fraction"),
    "text-value": (
        '{"dataset": "d", "aggregate": {"valid_code": "0.5"}}',
        'aggregate.valid_code: expected a number or null, got "0.5"',
    ),
    "nan-value": (
        '{"dataset": "d", "aggregate": {"test_pass_rate": NaN}}',
        "aggregate.test_pass_rate: expected a number or null, got NaN",
    ),
    "bool-value": (
        '{"dataset": "d", "aggregate": {"is_correct": true}}',
        "aggregate.is_correct: expected a number or null",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_eval_file_is_one_error_naming_file_and_field(home, tmp_path, case):
    text, message = BAD[case]
    run = tmp_path / case
    (run / "eval").mkdir(parents=True)
    (run / "eval" / "metrics.json").write_text(text)
    r = run_cli("compare", str(run))
    assert r.returncode == 2, r
    assert r.stdout == "" and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert str(run / "eval" / "metrics.json") in r.stderr and message in r.stderr, r.stderr


def test_a_good_eval_file_still_compares(home, tmp_path):
    run = tmp_path / "good"
    (run / "eval").mkdir(parents=True)
    (run / "eval" / "metrics.json").write_text(
        '{"dataset": "d", "aggregate": {"test_pass_rate": 0.25, "n_tasks": 4, "pass_at_k": {"1": 0.25, "2": 0.5}}}'
    )
    r = run_cli("compare", str(run))
    assert r.returncode == 0, r.stderr
    assert "25.00%" in r.stdout and "50.00%" in r.stdout
