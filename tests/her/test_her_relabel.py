"""Hindsight relabelling with the real sandbox: programs written as a model would, run on a toy
target; selection keeps the best per distinct outputs and relabels each as the task it solves."""

from __future__ import annotations

import pytest

from trainer.generation import Completion
from trainer.her_relabel import completion_rows, epoch_metrics, relabel, score_samples, select
from trainer.synthetic import toy_targets


def _completion(body: str) -> Completion:
    # what the model writes after the prompt's pre-filled `# concepts:` line
    text = f" drawing\n\ndef transform(input_grid):\n{body}\n```"
    return Completion(text=text, n_tokens=len(text.split()), truncated=False)


@pytest.fixture(scope="module")
def scored():
    from trainer.sandbox import Sandbox

    task = toy_targets(["3-squares"], seed=1)[0]
    picture = task.train[0].output
    comps = [
        _completion("    return input_grid"),  # blank canvas
        _completion("    return input_grid.copy()"),  # same outputs, longer program
        _completion(f"    return np.array({picture})"),  # draws the picture: solves it
        _completion("    out = input_grid.copy()\n    out[0, 0] = 3\n    return out"),
        _completion("    return undefined_name"),  # exception
        Completion(text="no code here", n_tokens=3, truncated=True),
    ]
    with Sandbox(workers=1, timeout_s=2.0) as sb:
        return task, score_samples(comps, [0.1, 0.9, 0.9, 0.9, 0.9, 0.9], task, sb)


def test_scores_on_train_pairs_and_reports_test(scored):
    task, samples = scored
    blank, same, solver, corner, broken, nocode = samples
    black = sum(v == 0 for row in task.train[0].output for v in row) / (len(task.train[0].output) ** 2)
    assert blank.pixel_score == pytest.approx(black) and not blank.solved
    assert solver.solved and solver.pixel_score == 1 and solver.correct_test == 1
    assert broken.error == "exception" and not broken.valid
    assert nocode.error == "parse" and nocode.outputs is None


def test_select_keeps_best_per_distinct_outputs_and_relabels(scored):
    task, samples = scored
    kept = select(samples, keep=10)
    # best first; the longer program with the blank's outputs is dropped, errors are never kept
    assert [s.text for s in kept][0] == samples[2].text
    assert len(kept) == 3 and samples[1] not in kept and samples[0] in kept
    assert select(samples, keep=1) == [samples[2]]
    corner = relabel(task, samples[3])
    assert corner.train[0].input == task.train[0].input
    assert corner.train[0].output[0][0] == 3 and corner.test[0].output == corner.train[0].output
    with pytest.raises(ValueError):
        relabel(task, samples[4])


def test_epoch_metrics_and_completion_rows(scored):
    _, samples = scored
    kept = select(samples, keep=2)
    m = epoch_metrics(samples, kept)
    assert m["her/samples"] == 6 and m["her/valid_outputs"] == pytest.approx(4 / 6)
    assert m["her/valid_code"] == pytest.approx(5 / 6)  # the exception parses; "no code here" does not
    assert m["her/solved"] == 1 and m["her/best_pixel_score"] == 1 and m["her/best_test_correct"] == 1
    assert m["her/unique_outputs"] == 3 and m["her/programs_trained"] == 2
    assert m["her/mean_pixel_score"] == pytest.approx(sum(s.pixel_score for s in samples[:4]) / 4)
    rows = completion_rows(kept, step=7, task_id="3-squares", epoch=2)
    assert [r["rank"] for r in rows] == [0, 1] and rows[0]["solved"] and rows[0]["step"] == 7
    assert "def transform" in rows[0]["program"]
