"""Round 5: a checkpoint whose trainer_state.json disagrees with its name (copied or renamed from
another checkpoint, or with `global_step` missing, which Trainer reads as 0) is refused, naming it,
before anything of the run moves; Trainer continued at the state's step, so rows were written a
second time and a later save landed on an existing checkpoint."""

from __future__ import annotations

import json

import pytest

from jobs.errors import SpecError
from jobs.spec import CheckpointRef, JobSpec
from trainer import lifecycle

pytestmark = pytest.mark.timeout(30)


def _spec(run_dir, resume=None):
    params = {"model_path": "m", "dataset": "arc1/train"}
    return JobSpec(kind="grpo", name="r", template="grpo", run_dir=str(run_dir), resume_from=resume, params=params)


@pytest.mark.parametrize("state", [{"global_step": 3}, {}, {"global_step": "5"}, {"global_step": True}])
def test_a_checkpoint_whose_state_names_another_step_is_refused(tmp_path, state):
    parent = tmp_path / "parent"
    ck = parent / "checkpoint-5"
    ck.mkdir(parents=True)
    (ck / "trainer_state.json").write_text(json.dumps(state))
    (ck / "adapter_model.safetensors").write_bytes(b"x")
    child = tmp_path / "child"
    child.mkdir()
    for ref in (CheckpointRef(run_dir=str(parent)), CheckpointRef(run_dir=str(parent), checkpoint="checkpoint-5")):
        with pytest.raises(SpecError) as err:
            lifecycle.resolve_resume(_spec(child, ref), child, lambda m, **f: None)
        assert str(err.value) == (
            f"{ck}: trainer_state.json says global_step {state.get('global_step')!r}, the checkpoint is step 5; "
            "it was copied or renamed from another checkpoint"
        )
    (ck / "trainer_state.json").write_text(json.dumps({"global_step": 5}))
    assert lifecycle.resolve_resume(_spec(child, CheckpointRef(run_dir=str(parent))), child, print) == str(ck)


@pytest.mark.parametrize("kind", ["file", "link"])
def test_rows_to_move_aside_need_a_real_branches_folder(tmp_path, kind):
    """A restart with rows past its checkpoint moves them into branches/; a file or a link there is
    one line naming it, and the run's rows stay where they were (was a FileExistsError traceback,
    or rows written through the link outside the run dir)."""
    from trainer.runfiles import RunFiles

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    rows = b'{"step": 1}\n{"step": 2}\n'
    (run_dir / "metrics.jsonl").write_bytes(rows)
    if kind == "file":
        (run_dir / "branches").write_text("x")
    else:
        (tmp_path / "elsewhere").mkdir()
        (run_dir / "branches").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(SpecError) as err:
        lifecycle.restart_aside(_spec(run_dir), run_dir, RunFiles(run_dir, enabled=True), None)
    assert str(err.value) == f"{run_dir / 'branches'}: not a folder; the rows after step 0 have nowhere to go"
    assert (run_dir / "metrics.jsonl").read_bytes() == rows
    assert not (tmp_path / "elsewhere").exists() or list((tmp_path / "elsewhere").iterdir()) == []
