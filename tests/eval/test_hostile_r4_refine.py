"""Refine records the trainer reads (round 4), past what render checks (the feedback pairs against
the task, tests/cli_jobs/test_hostile_inputs_r3_refine.py): a record with more or fewer
test_outputs than its task has test inputs had its "before" program scored on the first ones only
(three outputs for a one-test task scored as correct), and a record without an error whose
feedback lacks an output counted as valid outputs in the "before" column."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from jobs.errors import JobsError
from jobs.refine import Attempt, PairFeedback, RefineFile, write
from trainer.evaluate import truth_of
from trainer.refine import before_metrics, refine_tasks
from trainer.task_select import select_tasks

pytestmark = pytest.mark.timeout(60)

TASK = "00576224"  # a real arc1/eval task: 2 train pairs, 1 test input


@pytest.fixture(scope="module")
def task():
    return select_tasks("arc1/eval", task_ids=[TASK])[0]


def _params(tmp_path, task, **changes):
    record = {
        "task_id": TASK,
        "program": "def transform(g):\n    return g\n",
        "pairs": [PairFeedback(output=p.output, correct=True, pixel_score=1.0) for p in task.train],
        "test_outputs": [task.test[0].output],
        **changes,
    }
    path = tmp_path / "refine.json"
    write(path, RefineFile(dataset="arc1/eval", records=[Attempt(**record)]))
    return SimpleNamespace(refine_dataset=str(path), dataset="arc1/eval", task_ids=None, max_tasks=None)


@pytest.mark.parametrize("n", [0, 3])
def test_test_outputs_that_do_not_fit_the_task_are_refused_naming_the_record(tmp_path, task, n):
    p = _params(tmp_path, task, test_outputs=[task.test[0].output] * n)
    with pytest.raises(JobsError) as err:
        refine_tasks(p)
    assert str(err.value) == (
        f"refine_dataset {p.refine_dataset}: record 0 (task {TASK}): {n} test_outputs, the task has 1 test inputs"
    )


def test_fitting_records_load_with_or_without_test_outputs(tmp_path, task):
    for changes in ({}, {"test_outputs": None}, {"test_outputs": [None]}):
        tasks, attempts = refine_tasks(_params(tmp_path, task, **changes))
        assert [t.task_id for t in tasks] == [a.task_id for a in attempts] == [TASK]


def test_a_clean_record_without_a_train_output_is_no_valid_output_before(tmp_path, task):
    pairs = [PairFeedback(output=None, correct=False, pixel_score=0.0)] + [
        PairFeedback(output=p.output, correct=True, pixel_score=1.0) for p in task.train[1:]
    ]
    attempt = Attempt(task_id=TASK, program="x", pairs=pairs, test_outputs=[task.test[0].output])
    agg = before_metrics([attempt], truth_of([task]))["aggregate"]
    assert (agg["valid_outputs"], agg["train_correct_grids"], agg["is_correct"]) == (0.0, 0.0, 0.0)
    full = Attempt(
        task_id=TASK,
        program="x",
        pairs=[PairFeedback(output=p.output, correct=True, pixel_score=1.0) for p in task.train],
        test_outputs=[task.test[0].output],
    )
    agg = before_metrics([full], truth_of([task]))["aggregate"]
    assert (agg["valid_outputs"], agg["train_correct_grids"], agg["is_correct"]) == (1.0, 1.0, 1.0)
