"""Signals become "save, then stop"; resume picks the right checkpoint or says why it cannot."""

from __future__ import annotations

import json
import os
import signal

import pytest
from transformers import TrainerControl

from jobs.errors import SpecError
from jobs.spec import CheckpointRef, JobSpec
from trainer import lifecycle

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGTERM, signal.SIGINT])
def test_signal_sets_save_and_stop(sig):
    stop = lifecycle.SignalStop()
    try:
        control = TrainerControl()
        stop.on_step_end(None, None, control)
        assert not control.should_save and not control.should_training_stop
        os.kill(os.getpid(), sig)
        assert stop.received == sig.name
        stop.on_step_end(None, None, control)
        assert control.should_save and control.should_training_stop
    finally:
        stop.restore()
    assert signal.getsignal(sig) is not stop._handle


def test_second_ctrl_c_aborts():
    stop = lifecycle.SignalStop()
    try:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.received == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        stop.restore()


def test_no_handlers_outside_the_main_thread():
    import threading

    out = {}
    t = threading.Thread(target=lambda: out.setdefault("stop", lifecycle.SignalStop()))
    t.start()
    t.join()
    assert out["stop"].received is None and out["stop"]._previous == {}


def _checkpoint(run, step, valid=True):
    d = run / f"checkpoint-{step}"
    d.mkdir(parents=True)
    (d / "trainer_state.json").write_text(json.dumps({"global_step": step}) if valid else "{oops")
    (d / "adapter_model.safetensors").write_bytes(b"x")
    return d


def _spec(run_dir, resume=None):
    return JobSpec(
        kind="grpo",
        name="r",
        template="grpo",
        run_dir=str(run_dir),
        resume_from=resume,
        params={"model_path": "m", "dataset": "arc1/train"},
    )


def test_resolve_resume(tmp_path):
    warnings = []
    warn = lambda m, **f: warnings.append(m)  # noqa: E731
    parent = tmp_path / "parent"
    _checkpoint(parent, 10)
    _checkpoint(parent, 20, valid=False)
    child = tmp_path / "child"
    child.mkdir()
    assert lifecycle.resolve_resume(_spec(child), child, warn) is None
    # newest valid of the parent, the invalid newer one skipped with a warning
    got = lifecycle.resolve_resume(_spec(child, CheckpointRef(run_dir=str(parent))), child, warn)
    assert got == str(parent / "checkpoint-10") and "checkpoint-20" in warnings[-1]
    with pytest.raises(SpecError, match="checkpoint-20.*not a valid checkpoint"):
        lifecycle.resolve_resume(
            _spec(child, CheckpointRef(run_dir=str(parent), checkpoint="checkpoint-20")), child, warn
        )
    with pytest.raises(SpecError, match="does not exist"):
        lifecycle.resolve_resume(
            _spec(child, CheckpointRef(run_dir=str(parent), checkpoint="checkpoint-5")), child, warn
        )
    with pytest.raises(SpecError, match="no valid checkpoint"):
        lifecycle.resolve_resume(_spec(child, CheckpointRef(run_dir=str(tmp_path / "empty"))), child, warn)
    # a restarted run: its own checkpoints win over resume_from
    _checkpoint(child, 12)
    got = lifecycle.resolve_resume(_spec(child, CheckpointRef(run_dir=str(parent))), child, warn)
    assert got == str(child / "checkpoint-12")


def _rows(path, steps):
    path.write_text("".join(json.dumps({"step": s, "reward": s / 10}) + "\n" for s in steps))


def _steps(path):
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


def _resume_in_place(run, step):
    from datetime import datetime, timezone

    return _spec(run, CheckpointRef(run_dir=str(run), checkpoint=f"checkpoint-{step}", name="r")).model_copy(
        update={"created": datetime.now(timezone.utc)}
    )


def test_resume_in_place_from_an_earlier_checkpoint_branches_the_later_ones_aside(tmp_path):
    from jobs import rundir
    from trainer.telemetry import RunFiles

    run = tmp_path / "run"
    for step in (2, 4):
        _checkpoint(run, step)
    _checkpoint(run, 5, valid=False)
    (run / "final").mkdir()
    _rows(run / "metrics.jsonl", [1, 2, 3, 4, 5])
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 6, "rew')  # a torn last line of the killed process: a later row
    _rows(run / "completions.jsonl", [1, 1, 2, 3, 3])
    spec = _resume_in_place(run, 2)
    warn = lambda m, **f: None  # noqa: E731
    # the explicit checkpoint wins over the run's newer ones (it used to restart at checkpoint-4)
    assert lifecycle.resolve_resume(spec, run, warn) == str(run / "checkpoint-2")

    files = RunFiles(run, enabled=True)
    lifecycle.prepare_run_dir(spec, run, files)
    files.close()
    [branch] = (run / "branches").iterdir()
    assert branch.name.endswith("-from-checkpoint-2")
    assert sorted(p.name for p in branch.iterdir()) == [
        "checkpoint-4",
        "checkpoint-5",
        "completions.jsonl",
        "final",
        "metrics.jsonl",
    ]
    assert [c.name for c in rundir.list_checkpoints(str(run))] == ["checkpoint-2"]
    assert not (run / "final").exists()
    assert _steps(run / "metrics.jsonl") == [1, 2]
    assert _steps(run / "completions.jsonl") == [1, 1, 2]
    assert _steps(branch / "completions.jsonl") == [3, 3]
    moved = (branch / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in moved[:3]] == [3, 4, 5] and moved[3] == '{"step": 6, "rew'
    [ev] = [e for e in rundir.read_jsonl(run / "events.jsonl") if e["event"] == "resumed"]
    assert ev["checkpoint"] == "checkpoint-2" and ev["branch"] == f"branches/{branch.name}"
    assert ev["moved_checkpoints"] == ["checkpoint-4", "checkpoint-5", "final"]
    assert ev["moved_rows"] == {"metrics.jsonl": 4, "completions.jsonl": 2}
    assert lifecycle.resolve_resume(spec, run, warn) == str(run / "checkpoint-2")

    # The resumed run saves checkpoint-3 and is requeued with the same spec: it continues from 3,
    # and nothing is moved again.
    _checkpoint(run, 3)
    _rows(run / "metrics.jsonl", [1, 2, 3])
    files = RunFiles(run, enabled=True)
    lifecycle.prepare_run_dir(spec, run, files)
    files.close()
    assert lifecycle.resolve_resume(spec, run, warn) == str(run / "checkpoint-3")
    assert len(list((run / "branches").iterdir())) == 1 and _steps(run / "metrics.jsonl") == [1, 2, 3]

    # A second `arcctl resume --checkpoint 2` (a new spec) branches again, into a second folder.
    again = _resume_in_place(run, 2)
    assert lifecycle.resolve_resume(again, run, warn) == str(run / "checkpoint-2")
    files = RunFiles(run, enabled=True)
    lifecycle.prepare_run_dir(again, run, files)
    files.close()
    assert len(list((run / "branches").iterdir())) == 2 and _steps(run / "metrics.jsonl") == [1, 2]


def test_only_the_main_process_moves_and_others_still_pick_the_explicit_checkpoint(tmp_path):
    from trainer.telemetry import RunFiles

    run = tmp_path / "run"
    for step in (2, 4):
        _checkpoint(run, step)
    _rows(run / "metrics.jsonl", [1, 2, 3, 4])
    spec = _resume_in_place(run, 2)
    lifecycle.prepare_run_dir(spec, run, RunFiles(run, enabled=False))  # rank 1 of an accelerate job
    assert (run / "checkpoint-4").is_dir() and not (run / "branches").exists()
    assert lifecycle.resolve_resume(spec, run, lambda m, **f: None) == str(run / "checkpoint-2")


def test_a_resume_at_the_newest_checkpoint_moves_nothing(tmp_path):
    from trainer.telemetry import RunFiles

    run = tmp_path / "run"
    _checkpoint(run, 2)
    _rows(run / "metrics.jsonl", [1, 2])
    spec = _resume_in_place(run, 2)
    files = RunFiles(run, enabled=True)
    lifecycle.prepare_run_dir(spec, run, files)
    files.close()
    assert not (run / "branches").exists() and _steps(run / "metrics.jsonl") == [1, 2]
    # still recorded, so a requeue after checkpoint-3 is not sent back to 2
    _checkpoint(run, 3)
    assert lifecycle.resolve_resume(spec, run, lambda m, **f: None) == str(run / "checkpoint-3")


def test_an_invalid_explicit_checkpoint_is_refused_before_anything_moves(tmp_path):
    from trainer.telemetry import RunFiles

    run = tmp_path / "run"
    _checkpoint(run, 2, valid=False)
    _checkpoint(run, 4)
    _rows(run / "metrics.jsonl", [1, 2, 3, 4])
    spec = _resume_in_place(run, 2)
    files = RunFiles(run, enabled=True)
    lifecycle.prepare_run_dir(spec, run, files)
    files.close()
    assert not (run / "branches").exists() and (run / "checkpoint-4").is_dir()
    assert _steps(run / "metrics.jsonl") == [1, 2, 3, 4]
    with pytest.raises(SpecError, match="checkpoint-2 is not a valid checkpoint"):
        lifecycle.resolve_resume(spec, run, lambda m, **f: None)


def test_a_row_nested_past_the_parser_goes_aside_like_a_torn_one(tmp_path):
    from trainer.telemetry import RunFiles

    run = tmp_path / "run"
    for step in (2, 4):
        _checkpoint(run, step)
    _rows(run / "metrics.jsonl", [1, 2, 3])
    with open(run / "metrics.jsonl", "a") as f:
        f.write("[" * 100_000 + "]" * 100_000 + "\n")  # RecursionError in json.loads
    files = RunFiles(run, enabled=True)
    lifecycle.prepare_run_dir(_resume_in_place(run, 2), run, files)
    files.close()
    [branch] = (run / "branches").iterdir()
    assert _steps(run / "metrics.jsonl") == [1, 2]
    moved = (branch / "metrics.jsonl").read_text().splitlines()
    assert json.loads(moved[0])["step"] == 3 and moved[1].startswith("[[[")


@pytest.mark.timeout(60)
def test_a_metrics_file_that_never_ends_is_refused_before_anything_moves(tmp_path):
    from trainer.telemetry import RunFiles

    run = tmp_path / "run"
    for step in (2, 4):
        _checkpoint(run, step)
    (run / "metrics.jsonl").symlink_to("/dev/zero")  # read_bytes() would never return
    files = RunFiles(run, enabled=True)
    with pytest.raises(SpecError, match=r"metrics\.jsonl: (a device or socket, )?not a regular file"):
        lifecycle.prepare_run_dir(_resume_in_place(run, 2), run, files)
    files.close()
    assert (run / "checkpoint-4").is_dir() and not (run / "branches").exists()
