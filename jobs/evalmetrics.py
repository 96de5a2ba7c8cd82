"""Evaluation metrics over predictions: pure Python, no numpy, so the console, the dashboard and
the eval job compute exactly the same numbers and tests can pin them exactly.

A *prediction* is one program sampled for one task, already executed on every train and test
input (outputs mapped back to the original orientation/colours). Scoring one prediction against
the task's true outputs gives per-grid correctness and pixel scores; aggregating the predictions
of a task gives the per-task metrics of the seed tables (valid code, valid outputs, unique
outputs, pixel score, correct grids, pass rate, is_correct = pass@n); the dataset metrics are
the mean over tasks, the way the seed tables report them.
"""

from __future__ import annotations

import hashlib
import json
import math
from fractions import Fraction
from typing import Any, Iterable, Sequence
from jobs.errors import quoted, quoted_list

Grid = list[list[int]]

# Error kinds (sandbox kinds plus "no_code": nothing extracted from the completion).
NO_CODE = "no_code"
PARSE = "parse"
CODE_ERRORS = (NO_CODE, PARSE)  # predictions with these have no valid code

# Column order of the metrics table (seed tables), with the direction that counts as "best".
TABLE_COLUMNS: list[tuple[str, str]] = [
    ("n_preds", "none"),
    ("valid_code", "max"),
    ("valid_outputs", "max"),
    ("unique_outputs", "max"),
    ("train_pixel_score", "max"),
    ("train_correct_grids", "max"),
    ("train_pass_rate", "max"),
    ("train_is_correct", "max"),
    ("test_pixel_score", "max"),
    ("test_correct_grids", "max"),
    ("test_pass_rate", "max"),
    ("test_is_correct", "max"),
    ("pass_rate", "max"),
    ("is_correct", "max"),
]
PERCENT_COLUMNS = {name for name, _ in TABLE_COLUMNS if name != "n_preds"}


# --- grids ---------------------------------------------------------------------------------


def is_grid(g: Any) -> bool:
    """A rectangular list of lists of ints 0..9 (bool is not an int here), 1..30 per side."""
    if not isinstance(g, list) or not 1 <= len(g) <= 30:
        return False
    width = None
    for row in g:
        if not isinstance(row, list) or not 1 <= len(row) <= 30:
            return False
        if width is None:
            width = len(row)
        elif len(row) != width:
            return False
        for v in row:
            if type(v) is not int or not 0 <= v <= 9:
                return False
    return True


def pixel_score(pred: Grid | None, truth: Grid) -> float:
    """Share of matching pixels. Same shape: matches / area. Different shapes: the best overlap
    over every placement that keeps the shorter side of each axis inside the longer one, divided
    by the area of the bounding box of both shapes, so a grid of the wrong size never scores 1."""
    if pred is None or not pred or not truth:
        return 0.0
    ph, pw, th, tw = len(pred), len(pred[0]), len(truth), len(truth[0])
    if (ph, pw) == (th, tw):
        same = sum(a == b for pr, tr in zip(pred, truth) for a, b in zip(pr, tr))
        return same / (th * tw)
    h, w = min(ph, th), min(pw, tw)
    best = 0
    for oy in range(abs(ph - th) + 1):
        # offsets apply to whichever grid is longer on that axis
        py, ty = (oy, 0) if ph > th else (0, oy)
        for ox in range(abs(pw - tw) + 1):
            px, tx = (ox, 0) if pw > tw else (0, ox)
            same = 0
            for y in range(h):
                prow, trow = pred[py + y], truth[ty + y]
                same += sum(prow[px + x] == trow[tx + x] for x in range(w))
            best = max(best, same)
    return best / (max(ph, th) * max(pw, tw))


def fingerprint(outputs: Sequence[Grid | None]) -> str:
    """Identity of a prediction's outputs: equal outputs on every input give equal fingerprints."""
    text = json.dumps(list(outputs), separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def grid_fingerprint(grid: Grid) -> str:
    return hashlib.sha1(json.dumps(grid, separators=(",", ":")).encode()).hexdigest()[:16]


# --- one prediction ------------------------------------------------------------------------


def score_prediction(
    error: str | None,
    train_outputs: Sequence[Grid | None] | None,
    test_outputs: Sequence[Grid | None] | None,
    train_truth: Sequence[Grid],
    test_truth: Sequence[Grid | None] | None,
) -> dict[str, Any]:
    """Per-prediction scores. `test_truth` None (or containing None) means the test outputs are
    unknown (a Kaggle test set): test scores are then None, never guessed."""
    valid_code = error not in CODE_ERRORS
    valid_outputs = error is None and train_outputs is not None and test_outputs is not None
    train_outputs = list(train_outputs or [])
    test_outputs = list(test_outputs or [])

    def grids(outs: list, truth: Sequence[Grid]) -> tuple[list[bool], list[float]]:
        outs = outs + [None] * (len(truth) - len(outs))
        ok = [valid_outputs and o == t for o, t in zip(outs, truth)]
        px = [pixel_score(o, t) if valid_outputs else 0.0 for o, t in zip(outs, truth)]
        return ok, px

    train_ok, train_px = grids(train_outputs, train_truth)
    test_known = test_truth is not None and all(t is not None for t in test_truth)
    if test_known:
        test_ok, test_px = grids(test_outputs, test_truth)  # type: ignore[arg-type]
    else:
        test_ok, test_px = None, None
    return {
        "valid_code": valid_code,
        "valid_outputs": valid_outputs,
        "fingerprint": fingerprint(train_outputs + test_outputs) if valid_outputs else None,
        "train_correct": train_ok,
        "train_pixel": train_px,
        "test_correct": test_ok,
        "test_pixel": test_px,
    }


# --- one task --------------------------------------------------------------------------------


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def task_metrics(scored: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Metrics of one task from its scored predictions (outputs of score_prediction)."""
    n = len(scored)
    if n == 0:
        raise ValueError("task_metrics needs at least one prediction")
    fps = {s["fingerprint"] for s in scored if s["fingerprint"] is not None}
    train_all = [bool(s["train_correct"]) and all(s["train_correct"]) for s in scored]
    out: dict[str, Any] = {
        "n_preds": n,
        "valid_code": sum(s["valid_code"] for s in scored) / n,
        "valid_outputs": sum(s["valid_outputs"] for s in scored) / n,
        "unique_outputs": len(fps) / n,
        "train_pixel_score": _mean([_mean(s["train_pixel"]) for s in scored]),
        "train_correct_grids": _mean([_mean([float(c) for c in s["train_correct"]]) for s in scored]),
        "train_pass_rate": sum(train_all) / n,
        "train_is_correct": float(any(train_all)),
    }
    test_known = all(s["test_correct"] is not None for s in scored)
    if test_known:
        test_all = [bool(s["test_correct"]) and all(s["test_correct"]) for s in scored]
        both = [a and b for a, b in zip(train_all, test_all)]
        out.update(
            {
                "test_pixel_score": _mean([_mean(s["test_pixel"]) for s in scored]),
                "test_correct_grids": _mean([_mean([float(c) for c in s["test_correct"]]) for s in scored]),
                "test_pass_rate": sum(test_all) / n,
                "test_is_correct": float(any(test_all)),
                "pass_rate": sum(both) / n,
                "is_correct": float(any(both)),
                "n_correct": sum(both),
            }
        )
    else:
        for k in (
            "test_pixel_score",
            "test_correct_grids",
            "test_pass_rate",
            "test_is_correct",
            "pass_rate",
            "is_correct",
            "n_correct",
        ):
            out[k] = None
    return out


# --- pass@k ----------------------------------------------------------------------------------


def pass_at_k(n: int, c: int, k: int) -> float | None:
    """Unbiased estimate of P(at least one of k samples is correct) from c correct out of n:
    1 - C(n-c, k) / C(n, k). None when k > n: the sample cannot support the estimate."""
    if k < 1 or n < 1 or not 0 <= c <= n:
        raise ValueError(f"pass_at_k: need 1 <= k, 1 <= n, 0 <= c <= n (got n={n}, c={c}, k={k})")
    if k > n:
        return None
    if n - c < k:
        return 1.0
    # exact rational arithmetic: 1 - 9/10 is 0.1, not 0.09999999999999998
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


def default_ks(n: int) -> list[int]:
    """1, 2, 4, ... up to n, plus n itself (pass@n) if it is not a power of two."""
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    if n not in ks:
        ks.append(n)
    return ks


# --- a whole evaluation ---------------------------------------------------------------------


def aggregate(per_task: dict[str, dict[str, Any]], ks: Iterable[int] | None = None) -> dict[str, Any]:
    """Dataset metrics: mean over tasks of each per-task metric; pass@k averaged over tasks,
    with the k that the smallest per-task sample does not support listed as unsupported."""
    tasks = list(per_task.values())
    if not tasks:
        return {"n_tasks": 0, "pass_at_k": {}, "pass_at_k_unsupported": []}
    out: dict[str, Any] = {"n_tasks": len(tasks)}
    ns = [t["n_preds"] for t in tasks]
    out["n_preds"] = ns[0] if len(set(ns)) == 1 else _mean(ns)
    for name, _ in TABLE_COLUMNS:
        if name == "n_preds":
            continue
        vals = [t[name] for t in tasks]
        out[name] = None if any(v is None for v in vals) else _mean(vals)
    ks = sorted(set(ks)) if ks is not None else default_ks(max(ns))
    curve: dict[str, float] = {}
    unsupported: list[int] = []
    test_known = all(t["n_correct"] is not None for t in tasks)
    for k in ks:
        if not test_known:
            break
        vals = [pass_at_k(t["n_preds"], t["n_correct"], k) for t in tasks]
        if any(v is None for v in vals):
            unsupported.append(k)
            continue
        curve[str(k)] = _mean(vals)  # type: ignore[arg-type]
    out["pass_at_k"] = curve
    out["pass_at_k_unsupported"] = unsupported
    return out


def score_predictions(predictions: Sequence[dict[str, Any]], truth: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """score_prediction for each prediction, in order (the eval job stores these per line)."""
    out = []
    for p in predictions:
        tid = p["task_id"]
        if tid not in truth:
            raise ValueError(f"prediction for unknown task {quoted(tid)}")
        t = truth[tid]
        out.append(
            score_prediction(p.get("error"), p.get("train_outputs"), p.get("test_outputs"), t["train"], t.get("test"))
        )
    return out


def metrics_from_scored(
    predictions: Sequence[dict[str, Any]],
    scored: Sequence[dict[str, Any]],
    task_ids: Iterable[str],
    ks: Iterable[int] | None = None,
) -> dict[str, Any]:
    by_task: dict[str, list[dict[str, Any]]] = {tid: [] for tid in task_ids}
    errors: dict[str, int] = {}
    for p, s in zip(predictions, scored):
        by_task[p["task_id"]].append(s)
        kind = p.get("error") or "ok"
        errors[kind] = errors.get(kind, 0) + 1
    missing = [tid for tid, s in by_task.items() if not s]
    if missing:
        raise ValueError(f"no predictions for task(s): {quoted_list(missing)}")
    per_task = {tid: task_metrics(s) for tid, s in by_task.items()}
    return {
        "aggregate": aggregate(per_task, ks),
        "errors": dict(sorted(errors.items())),
        "per_task": per_task,
    }


def compute_metrics(
    predictions: Sequence[dict[str, Any]],
    truth: dict[str, dict[str, Any]],
    ks: Iterable[int] | None = None,
) -> dict[str, Any]:
    """The whole metrics document from raw predictions and the true outputs.

    predictions: dicts with task_id, error (None or kind), train_outputs, test_outputs.
    truth: {task_id: {"train": [grid, ...], "test": [grid or None, ...]}}.
    Every task of `truth` must have at least one prediction.
    """
    return metrics_from_scored(predictions, score_predictions(predictions, truth), truth, ks)


def format_value(name: str, value: Any) -> str:
    """How the table shows a value: percentages with two decimals, counts as integers."""
    if value is None:
        return "-"
    if name in PERCENT_COLUMNS or name.startswith("pass@"):
        return f"{100 * float(value):.2f}%"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
