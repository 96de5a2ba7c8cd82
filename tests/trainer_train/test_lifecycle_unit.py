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
    return JobSpec(kind="grpo", name="r", template="grpo", run_dir=str(run_dir), resume_from=resume,
                   params={"model_path": "m", "dataset": "arc1/train"})


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
        lifecycle.resolve_resume(_spec(child, CheckpointRef(run_dir=str(parent), checkpoint="checkpoint-20")), child, warn)
    with pytest.raises(SpecError, match="does not exist"):
        lifecycle.resolve_resume(_spec(child, CheckpointRef(run_dir=str(parent), checkpoint="checkpoint-5")), child, warn)
    with pytest.raises(SpecError, match="no valid checkpoint"):
        lifecycle.resolve_resume(_spec(child, CheckpointRef(run_dir=str(tmp_path / "empty"))), child, warn)
    # a restarted run: its own checkpoints win over resume_from
    _checkpoint(child, 12)
    got = lifecycle.resolve_resume(_spec(child, CheckpointRef(run_dir=str(parent))), child, warn)
    assert got == str(child / "checkpoint-12")
