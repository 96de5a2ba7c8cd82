"""One table of built-in data set names, shared by the console (jobs) and the trainer."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jobs.datasets import BUILTIN, builtin, builtin_hint
from jobs.kaggle_submission import SubmissionError, dataset_test_counts


def test_the_trainer_and_the_console_read_the_same_table():
    import trainer.data

    assert trainer.data.BUILTIN is BUILTIN
    assert builtin("kaggle2024/evaluation") == builtin("kaggle2024/eval") == ("kaggle2024", "eval")
    assert builtin("arc1/test") is None and builtin("synthetic") is None
    assert builtin_hint().startswith("arc1/train|eval, kaggle2024/train|eval")


def test_console_counts_match_the_trainers_tasks():
    from trainer.data import load_tasks

    counts = dataset_test_counts("arc1/eval")
    tasks = load_tasks("arc1/eval")
    assert counts == {t.task_id: len(t.test) for t in tasks}
    assert dataset_test_counts("arc1/evaluation") == counts
    with pytest.raises(SubmissionError, match="unknown; use a challenges file or one of arc1/train"):
        dataset_test_counts("arc9/train")


def test_jobs_datasets_imports_nothing_heavy():
    code = "import sys, jobs.datasets, jobs.kaggle_submission; print(sorted(m for m in sys.modules if m.split('.')[0] in ('trainer', 'numpy', 'torch')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
