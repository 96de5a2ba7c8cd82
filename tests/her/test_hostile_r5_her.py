"""Round 5: HER checkpoints that disagree with the job continuing from them. A her_state.json whose
step is not its checkpoint's (a checkpoint copied or renamed) is refused, naming both: the job
went on at the state's step, so its saves landed on checkpoints already there (an OSError on the
rename, after an epoch's sampling and fine-tuning). A fork or resume with fewer `her_epochs` than
the target it continues has run finishes that target with its `her_target` record; it used to
skip the target without one."""

from __future__ import annotations

import json

import pytest

from jobs.errors import SpecError
from jobs.rundir import list_checkpoints, read_jsonl
from jobs.spec import JobSpec
from trainer.data import Pair, Task
from trainer.her import read_state

TARGETS = [Task(f"t{i}", [Pair([[i]], [[i]])], [Pair([[i]])]) for i in range(2)]
STATE = {"step": 4, "target": 1, "task_id": "t1", "epoch": 2, "done": False, "results": {}}


@pytest.mark.timeout(30)
def test_a_her_state_of_another_step_than_its_checkpoint_is_refused(tmp_path):
    ckpt = tmp_path / "checkpoint-7"
    ckpt.mkdir()
    (ckpt / "her_state.json").write_text(json.dumps(STATE))
    with pytest.raises(SpecError) as err:
        read_state(str(ckpt), TARGETS)
    assert str(err.value) == (
        f"{ckpt}: her_state.json says step 4, the checkpoint is step 7; it was copied or renamed from another checkpoint"
    )
    (tmp_path / "checkpoint-4").mkdir()
    (tmp_path / "checkpoint-4" / "her_state.json").write_text(json.dumps(STATE))
    assert read_state(str(tmp_path / "checkpoint-4"), TARGETS) == STATE


def _spec(run_dir, model, **over) -> JobSpec:
    params = dict(model_path=str(model), dataset="toy", task_ids=["2-squares"], grid_encoder="digits", seed=0)
    params.update(sampling=[{"n": 2, "temperature": 1.0}], her_epochs=2, keep_programs=2, max_new_tokens=8)
    params.update(max_seq_length=2048, batch_size=2, lora_r=8, n_jobs=1, sandbox_timeout_s=2.0)
    params.update(over)
    return JobSpec(kind="her", name=run_dir.name, template="her", params=params, run_dir=str(run_dir))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_resume_with_fewer_epochs_than_the_target_ran_finishes_it(tmp_path, tiny_model_dir):
    from trainer import her

    run = tmp_path / "her"
    spec = _spec(run, tiny_model_dir)
    spec.write()
    assert her.main(spec) == 0
    # stopped after epoch 1 of 2 (a preemption): the target is not done
    [ck2] = [c for c in list_checkpoints(str(run)) if c.step == 2]
    import shutil

    shutil.move(ck2.path, tmp_path / "aside")
    state = json.loads((run / "checkpoint-1" / "her_state.json").read_text())
    assert state["epoch"] == 1 and not state["done"]
    events = read_jsonl(run / "events.jsonl")
    cut = [i for i, e in enumerate(events) if e["event"] == "her_target"][0]
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events[:cut]))

    # the resumed job's budget is one epoch, which the target has had
    fewer = _spec(run, tiny_model_dir, her_epochs=1).model_copy(update={"created": spec.created})
    fewer.write()
    assert her.main(fewer) == 0
    events = read_jsonl(run / "events.jsonl")
    after = events[[i for i, e in enumerate(events) if e["event"] == "started"][-1] :]
    [done] = [e for e in after if e["event"] == "her_target"]
    assert done["task_id"] == "2-squares" and done["target"] == 0 and done["epochs"] == 1
    assert after[-1]["event"] == "stopped" and after[-1]["targets"] == 1
    assert not [e for e in after if e["event"] == "her_epoch"]
