"""save_total_limit: a real GRPO run of the tiny model (CPU) saving every step keeps the newest K
checkpoints, the last healthy one (the one `arcctl health` names) and the one a queued fork
starts from, and deletes the rest; the rule itself on checkpoints laid out on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs import rundir
from jobs.fork import fork_spec, resume_spec
from jobs.health import diagnose
from jobs.spec import CheckpointRef
from tests.trainer_train.helpers import ENTROPY_TRIP, grpo_spec, run_trainer
from trainer.checkpoint_retention import PRUNED_PREFIX, prunable, remove_checkpoint, resumed_from, started_from

# ENTROPY_TRIP warns at the third logged step: the last healthy checkpoint is then checkpoint-2.


def _checkpoint(run_dir: Path, step: int, valid: bool = True) -> None:
    ck = run_dir / f"checkpoint-{step}"
    ck.mkdir(parents=True)
    (ck / "adapter_model.safetensors").write_bytes(b"w")
    if valid:
        (ck / "trainer_state.json").write_text(json.dumps({"global_step": step}))


def _names(run_dir: Path) -> list[str]:
    return [c.name for c in rundir.list_checkpoints(str(run_dir))]


def test_the_rule_keeps_newest_protected_and_invalid(tmp_path):
    run = tmp_path / "runs" / "run"
    for step in (1, 2, 3, 4, 5):
        _checkpoint(run, step)
    _checkpoint(run, 6, valid=False)  # a save cut short: neither counted nor deleted
    grpo_spec(run, Path("tiny")).write()
    cks = rundir.list_checkpoints(str(run))
    assert [c.name for c in prunable(cks, 2, {"checkpoint-2"})] == ["checkpoint-1", "checkpoint-3"]
    assert [c.name for c in prunable(cks, 10, set())] == []

    # a resume in place protects its checkpoint; a resume from another run does not
    assert resumed_from(resume_spec(str(run), "checkpoint-3"), run) == {"checkpoint-3"}
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert resumed_from(resume_spec(str(run), "checkpoint-3"), other) == set()

    # forks beside the run protect what they start from; unrelated or broken specs are ignored
    fork = fork_spec(str(run), "checkpoint-1")
    fork.write()
    (tmp_path / "runs" / "junk").mkdir()
    (tmp_path / "runs" / "junk" / "spec.json").write_text("{not json")
    assert started_from(run) == {"checkpoint-1"}

    remove_checkpoint(rundir.list_checkpoints(str(run))[0])
    assert _names(run) == ["checkpoint-2", "checkpoint-3", "checkpoint-4", "checkpoint-5", "checkpoint-6"]
    assert not list(run.glob(PRUNED_PREFIX + "*"))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_real_run_keeps_newest_healthy_and_forked_checkpoints(tmp_path, small_grpo_spec):
    run_dir = tmp_path / "runs" / "limited"
    spec = small_grpo_spec(
        run_dir, max_steps=5, save_steps=1, logging_steps=1, save_total_limit=1, guard="warn", health=ENTROPY_TRIP
    )
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

    proc = run_trainer("run", str(run_dir), timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = [e["step"] for e in rundir.read_jsonl(run_dir / rundir.EVENTS) if e["event"] == rundir.EV_CHECKPOINT]
    assert saved == list(range(1, 6))  # every step was saved ...
    report = diagnose(str(run_dir))
    assert report.first_warning_step == 3 and report.healthy_checkpoint.name == "checkpoint-2"
    # ... and only the fork's, the last healthy and the newest are left, each still valid
    assert _names(run_dir) == ["checkpoint-1", "checkpoint-2", "checkpoint-5"]
    assert all(c.valid for c in rundir.list_checkpoints(str(run_dir)))
    assert not list(run_dir.glob(PRUNED_PREFIX + "*"))
    assert "save_total_limit=1: deleted checkpoint-3" in proc.stderr and "checkpoint-2 (last healthy)" in proc.stderr
