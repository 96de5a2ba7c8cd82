"""jobs.evalmetrics: the pure metric functions, checked against values computed by hand."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from jobs import evalmetrics as em


def test_pixel_score_same_shape_and_best_overlap():
    assert em.pixel_score([[1, 2], [3, 4]], [[1, 2], [3, 4]]) == 1.0
    assert em.pixel_score([[1, 2], [3, 5]], [[1, 2], [3, 4]]) == 0.75
    # 1x1 against 2x2: best placement matches one cell of a 2x2 bounding box
    assert em.pixel_score([[1]], [[0, 1], [1, 1]]) == 0.25
    # 1x2 against 2x1: bounding box 2x2, one overlapping cell that matches
    assert em.pixel_score([[1, 1]], [[1], [1]]) == 0.25
    # a wrong-size grid never reaches 1 even if it contains the answer
    assert em.pixel_score([[1, 2, 0]], [[1, 2]]) == pytest.approx(2 / 3)
    assert em.pixel_score(None, [[1]]) == 0.0


def test_pass_at_k_unbiased_estimator_exact():
    assert em.pass_at_k(10, 1, 1) == 0.1
    assert em.pass_at_k(4, 2, 2) == pytest.approx(5 / 6)
    assert em.pass_at_k(4, 1, 2) == 0.5
    assert em.pass_at_k(4, 0, 4) == 0.0
    assert em.pass_at_k(4, 3, 2) == 1.0  # n - c < k: every k-subset holds a correct one
    n, c, k = 480, 7, 100
    assert em.pass_at_k(n, c, k) == pytest.approx(float(1 - Fraction(math.comb(n - c, k), math.comb(n, k))))
    assert em.pass_at_k(4, 1, 8) is None  # k beyond the sample: unsupported, not extrapolated
    with pytest.raises(ValueError):
        em.pass_at_k(4, 5, 1)


def test_default_ks():
    assert em.default_ks(8) == [1, 2, 4, 8]
    assert em.default_ks(6) == [1, 2, 4, 6]
    assert em.default_ks(1) == [1]


def _pred(tid, error=None, train=None, test=None):
    return {"task_id": tid, "error": error, "train_outputs": train, "test_outputs": test}


TRUTH = {
    "a": {"train": [[[1, 2]], [[3]]], "test": [[[5, 5]]]},
    "b": {"train": [[[0]]], "test": [[[7]]]},
}


def test_compute_metrics_by_hand():
    preds = [
        _pred("a", train=[[[1, 2]], [[3]]], test=[[[5, 5]]]),  # fully correct
        _pred("a", train=[[[1, 2]], [[3]]], test=[[[5, 0]]]),  # train ok, test half
        _pred("a", train=[[[1, 2]], [[3]]], test=[[[5, 5]]]),  # duplicate of the first
        _pred("a", error="parse"),  # invalid code
        _pred("b", train=[[[1]]], test=[[[7]]]),  # test right, train wrong
        _pred("b", error="timeout"),  # valid code, no outputs
    ]
    doc = em.compute_metrics(preds, TRUTH, ks=[1, 2, 4])
    a, b = doc["per_task"]["a"], doc["per_task"]["b"]
    assert a["n_preds"] == 4
    assert a["valid_code"] == 0.75 and a["valid_outputs"] == 0.75
    assert a["unique_outputs"] == 0.5  # two distinct output sets among 4 predictions
    assert a["train_correct_grids"] == 0.75 and a["train_pass_rate"] == 0.75 and a["train_is_correct"] == 1.0
    assert a["test_correct_grids"] == 0.5 and a["test_pass_rate"] == 0.5
    assert a["test_pixel_score"] == pytest.approx((1 + 0.5 + 1 + 0) / 4)
    assert a["pass_rate"] == 0.5 and a["is_correct"] == 1.0 and a["n_correct"] == 2
    assert b["valid_code"] == 1.0 and b["valid_outputs"] == 0.5
    assert b["test_pass_rate"] == 0.5 and b["train_pass_rate"] == 0.0
    assert b["test_is_correct"] == 1.0 and b["is_correct"] == 0.0  # pass@n needs train AND test
    agg = doc["aggregate"]
    assert agg["n_tasks"] == 2 and agg["n_preds"] == 3  # mean of 4 and 2 predictions per task
    assert agg["is_correct"] == 0.5
    assert agg["valid_code"] == pytest.approx((0.75 + 1.0) / 2)
    # pass@k: task a has n=4, c=2; task b n=2, c=0 -> k=4 unsupported for b
    assert agg["pass_at_k"] == {"1": pytest.approx((0.5 + 0) / 2), "2": pytest.approx((5 / 6 + 0) / 2)}
    assert agg["pass_at_k_unsupported"] == [4]
    assert doc["errors"] == {"ok": 4, "parse": 1, "timeout": 1}


def test_unknown_test_outputs_give_none_not_zero():
    truth = {"a": {"train": [[[1]]], "test": [None]}}
    doc = em.compute_metrics([_pred("a", train=[[[1]]], test=[[[2]]])], truth)
    t = doc["per_task"]["a"]
    assert t["train_is_correct"] == 1.0
    assert t["test_pass_rate"] is None and t["is_correct"] is None
    assert doc["aggregate"]["is_correct"] is None and doc["aggregate"]["pass_at_k"] == {}


def test_every_task_needs_a_prediction_and_unknown_tasks_fail():
    with pytest.raises(ValueError, match="no predictions for task"):
        em.compute_metrics([_pred("a", error="parse")], TRUTH)
    with pytest.raises(ValueError, match="unknown task zzz$"):
        em.compute_metrics([_pred("zzz", error="parse")], TRUTH)


def test_format_value():
    assert em.format_value("valid_code", 1.0) == "100.00%"
    assert em.format_value("n_preds", 480) == "480"
    assert em.format_value("is_correct", None) == "-"
