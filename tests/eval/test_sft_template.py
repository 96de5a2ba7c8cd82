"""The shipped SFT template must train out of the box: its default data set has programs to imitate."""

from __future__ import annotations

import pytest

from jobs.params import SFTParams
from jobs.templates import load_template


@pytest.mark.timeout(120)
def test_default_sft_template_has_tasks_with_programs():
    from trainer.sft import task_program_pairs

    params = SFTParams(**load_template("sft").params)
    assert params.dataset == "synthetic:2000"
    pairs = task_program_pairs(params)  # the built-in ARC sets raise here: they carry no programs
    assert len(pairs) == 2000
    task, program = pairs[0]
    assert task.train and "def " in program
