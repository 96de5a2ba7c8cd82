"""Round 5: a fork or resume from a checkpoint whose weights are not this run's (another LoRA rank,
DoRA switched on, an adapter file cut short by a copy) stops before `started` with one line
naming the checkpoint; it was a size-mismatch or optimizer traceback after the job had started."""

from __future__ import annotations

import shutil

import pytest

from jobs.spec import CheckpointRef

from .helpers import events, run_trainer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def parent(tmp_path_factory, tiny_model_dir, small_dataset):
    from .helpers import grpo_spec

    run_dir = tmp_path_factory.mktemp("ck") / "parent"
    grpo_spec(run_dir, tiny_model_dir, dataset=str(small_dataset), max_steps=1, save_steps=1).write()
    proc = run_trainer("run", str(run_dir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir / "checkpoint-1"


def _child(tmp_path, small_grpo_spec, checkpoint, **params):
    run_dir = tmp_path / "child"
    spec = small_grpo_spec(run_dir, max_steps=2, save_steps=1, **params)
    ref = CheckpointRef(run_dir=str(checkpoint.parent), checkpoint=checkpoint.name)
    spec.model_copy(update={"resume_from": ref}).write()
    return run_dir, run_trainer("run", str(run_dir))


@pytest.mark.parametrize(
    "params, says",
    [
        (dict(lora_r=8), "lora_A.weight is [16, 256] there, [8, 256] here"),
        (dict(use_dora=True, generation_backend="trl"), "weights of this run are not in it, e.g. "),
        (dict(lora_target_modules=["q_proj"]), "of its weights are not in this run, e.g. "),
    ],
)
def test_a_checkpoint_of_another_lora_shape_is_one_line_before_started(tmp_path, small_grpo_spec, parent, params, says):
    run_dir, proc = _child(tmp_path, small_grpo_spec, parent, **params)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("trainer:")]
    assert line.startswith(f"trainer: error: {parent}: its adapter does not fit this run (") and says in line
    assert "keeps the model_path, lora_r, lora_target_modules and use_dora" in line
    assert [e["event"] for e in events(run_dir)] == ["error"]


def test_a_cut_adapter_file_is_named(tmp_path, small_grpo_spec, parent):
    cut = tmp_path / "copy" / "checkpoint-1"
    shutil.copytree(parent, cut)
    adapter = cut / "adapter_model.safetensors"
    adapter.write_bytes(adapter.read_bytes()[:200])  # a copy that stopped part way
    run_dir, proc = _child(tmp_path, small_grpo_spec, cut)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("trainer:")]
    assert line.startswith(f"trainer: error: {adapter}: unreadable")
