"""save_total_limit on a real SFT run (README: "GRPO and SFT"; the GRPO run is in
trainer_train/test_checkpoint_retention.py): the tiny model trained on CPU, saving every step,
keeps the newest K checkpoints and the one a queued fork starts from, and deletes the rest. SFT is
not judged by the health rules, so no "last healthy" checkpoint is kept for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs import rundir
from jobs.spec import CheckpointRef
from tests.tiny_params import CONSTANT_LR, job_spec, tiny_sft_params
from tests.trainer_train.helpers import run_trainer
from trainer.checkpoint_retention import PRUNED_PREFIX


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_real_sft_run_keeps_the_newest_and_the_forked_checkpoints(tmp_path, tiny_model_dir):
    run_dir = tmp_path / "runs" / "sft-limited"
    params = tiny_sft_params(tiny_model_dir, max_steps=4, save_steps=1, save_total_limit=2, seed=0, **CONSTANT_LR)
    spec = job_spec("sft", run_dir, params)
    spec.write()
    # a fork queued (not started yet) from the run's first checkpoint, beside it as arcctl puts forks
    fork = spec.model_copy(
        update={
            "name": "fork",
            "run_dir": str(tmp_path / "runs" / "fork"),
            "resume_from": CheckpointRef(run_dir=str(run_dir), checkpoint="checkpoint-1"),
        }
    )
    fork.write()

    proc = run_trainer("run", str(run_dir), timeout=380)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = [e["step"] for e in rundir.read_jsonl(run_dir / rundir.EVENTS) if e["event"] == rundir.EV_CHECKPOINT]
    assert saved == [1, 2, 3, 4]  # every step was saved ...
    # ... and only the fork's and the newest two are left, each still valid (resumable)
    names = [c.name for c in rundir.list_checkpoints(str(run_dir))]
    assert names == ["checkpoint-1", "checkpoint-3", "checkpoint-4"], proc.stderr[-2000:]
    assert all(c.valid for c in rundir.list_checkpoints(str(run_dir)))
    assert not list(Path(run_dir).glob(PRUNED_PREFIX + "*"))
    assert "save_total_limit=2: deleted checkpoint-2" in proc.stderr
    assert "checkpoint-1 (a fork starts from it)" in proc.stderr and "last healthy" not in proc.stderr
