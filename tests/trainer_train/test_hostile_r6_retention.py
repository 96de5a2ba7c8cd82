"""Round 6: save_total_limit reads the spec.json of every run beside this one (a fork or rollback
child starting from one of its checkpoints keeps that checkpoint). A neighbour whose spec.json is
a FIFO held every checkpoint save of this run for as long as nobody wrote to the pipe, and one
linked to /dev/zero read without end; both are now skipped like a spec.json that is no JSON."""

from __future__ import annotations

import os
import threading

import pytest

from jobs.fork import fork_spec
from tests.tiny_params import job_spec
from trainer.checkpoint_retention import started_from

pytestmark = [pytest.mark.timeout(120)]


def _checkpoint(run, step: int) -> None:
    ck = run / f"checkpoint-{step}"
    ck.mkdir()
    (ck / "trainer_state.json").write_text(f'{{"global_step": {step}}}')
    (ck / "adapter_model.safetensors").write_bytes(b"x")


def test_a_neighbour_spec_that_never_ends_does_not_hold_the_save(tmp_path):
    # a FIFO only: the same check refuses a link to /dev/zero, which the old read would have
    # read into memory until this machine ran out (not a thing to replay in a test)
    root = tmp_path / "runs"
    run = root / "a"
    job_spec("grpo", run, {"model_path": "tiny", "dataset": "arc1/train"}).write()
    _checkpoint(run, 1)
    fork_spec(str(run), "checkpoint-1").write()
    (root / "b").mkdir()
    spec = root / "b" / "spec.json"
    os.mkfifo(spec)

    got: list = []
    worker = threading.Thread(target=lambda: got.append(started_from(run)), daemon=True)
    worker.start()
    worker.join(timeout=60)  # a deadline for a read that never ends, not a wait for an event
    held = worker.is_alive()
    if held:  # let the old reader go: a writer that closes at once
        open(spec, "w").close()
    assert not held, "started_from held by a FIFO spec.json beside the run"
    assert got == [{"checkpoint-1"}]
