"""Round 5: a refine_dataset that is no regular file when the trainer reads it (render checks the
path, but a spec edited by hand or a file replaced before the job ran skips that check): a FIFO
held the job forever before any model loaded, a folder was an IsADirectoryError line without
the parameter's name. Each is now one line naming refine_dataset and the path."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from jobs.errors import JobsError
from trainer.refine import refine_tasks

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("make", [os.mkfifo, os.mkdir, lambda p: os.symlink("/dev/zero", p)])
def test_a_refine_file_that_is_no_regular_file_is_named_not_read(tmp_path, make):
    path = tmp_path / "refine.json"
    make(path)
    p = SimpleNamespace(refine_dataset=str(path), dataset="arc1/train", task_ids=None, max_tasks=None)
    with pytest.raises(JobsError) as err:
        refine_tasks(p)
    assert str(err.value).startswith(f"refine_dataset {path}: not a regular file")
