"""A HER checkpoint's her_state.json as a resume or fork reads it (round 4): the run's own file,
hand-edited or foreign. Each bad one is one SpecError naming the checkpoint before any model is
loaded; before, a FIFO hung the job, `"epoch": Infinity` was an OverflowError traceback, a
`target` of -1 carrying the last target's id was accepted (the job then ran every target again,
the last one first), and a missing `done` or a `results` entry without its scores was a KeyError
after the model had loaded."""

from __future__ import annotations

import json
import os

import pytest

from jobs.errors import SpecError
from trainer.data import Pair, Task
from trainer.her import read_state

pytestmark = pytest.mark.timeout(30)

TARGETS = [Task(f"t{i}", [Pair([[i]], [[i]])], [Pair([[i]])]) for i in range(3)]
GOOD = {
    "step": 4,
    "target": 1,
    "task_id": "t1",
    "epoch": 2,
    "done": False,
    "results": {"t0": {"task_id": "t0", "solved_at": 3, "best_pixel_score": 1.0, "test_correct": 1.0, "epochs": 3}},
}


def _write(tmp_path, text: str):
    ckpt = tmp_path / "checkpoint-4"
    ckpt.mkdir(exist_ok=True)
    (ckpt / "her_state.json").write_text(text)
    return ckpt


BAD = {
    "infinite_epoch": json.dumps(GOOD).replace('"epoch": 2', '"epoch": Infinity'),
    "negative_target": json.dumps({**GOOD, "target": -1, "task_id": "t2"}),
    "float_step": json.dumps({**GOOD, "step": 4.5}),
    "bool_target": json.dumps({**GOOD, "target": True}),
    "no_done": json.dumps({k: v for k, v in GOOD.items() if k != "done"}),
    "done_as_text": json.dumps({**GOOD, "done": "no"}),
    "results_a_list": json.dumps({**GOOD, "results": [1, 2]}),
    "result_without_scores": json.dumps({**GOOD, "results": {"t0": {"task_id": "t0"}}}),
    "result_score_nan": json.dumps({**GOOD, "results": {"t0": {"solved_at": None, "best_pixel_score": float("nan")}}}),
    "task_id_a_number": json.dumps({**GOOD, "task_id": 1}),
    "a_list": json.dumps([GOOD]),
    "deeply_nested": "[" * 100_000,
    "not_utf8": "\udcff",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_her_state_is_one_spec_error_naming_the_checkpoint(tmp_path, name):
    text = BAD[name]
    ckpt = tmp_path / "checkpoint-4"
    ckpt.mkdir()
    if name == "not_utf8":
        (ckpt / "her_state.json").write_bytes(b'{"step": \xff}')
    else:
        (ckpt / "her_state.json").write_text(text)
    with pytest.raises(SpecError) as err:
        read_state(str(ckpt), TARGETS)
    msg = str(err.value)
    assert msg.startswith(f"{ckpt}: not a HER checkpoint (her_state.json: ") and "\n" not in msg, msg


def test_a_her_state_that_is_a_fifo_is_refused_not_read(tmp_path):
    ckpt = tmp_path / "checkpoint-4"
    ckpt.mkdir()
    os.mkfifo(ckpt / "her_state.json")
    with pytest.raises(SpecError, match="not a regular file"):
        read_state(str(ckpt), TARGETS)


def test_the_runs_own_state_still_reads(tmp_path):
    ckpt = _write(tmp_path, json.dumps(GOOD, indent=1))
    assert read_state(str(ckpt), TARGETS) == GOOD
    ckpt = _write(tmp_path, json.dumps({**GOOD, "results": {}, "done": True, "target": 2, "task_id": "t2"}))
    assert read_state(str(ckpt), TARGETS)["target"] == 2
    ckpt = _write(tmp_path, json.dumps({**GOOD, "target": 3, "task_id": "t3"}))
    with pytest.raises(SpecError, match="which is not target 4 of this job"):
        read_state(str(ckpt), TARGETS)
