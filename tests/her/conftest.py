"""The HER tests' model: the tiny model warm-started by a short synthetic SFT (full fine-tuning on
one task of the synthetic generator, a left-right mirroring: one example, so batches of one),
enough for some sampled programs to parse and run on a toy target. Built once per session, or
once per ARCCTL_TEST_CACHE."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from jobs.spec import JobSpec
from tests.tiny_params import CONSTANT_LR

SFT_STEPS = 80  # fewer: no sampled program runs on the 2-core VM (40 steps: 0 of 10)


def _warm(tiny: Path, root: Path) -> Path:
    run = root / f"her-warm-{tiny.name}-{SFT_STEPS}"
    done = run / ".complete"
    if done.exists():
        return run / "final"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".her-warm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return run / "final"
        import shutil

        from trainer import sft
        from trainer.synthetic import generate_tasks

        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(parents=True)
        # one small left-right mirroring task: its program is learnt within the steps above
        pairs = [
            (t, p)
            for t, p in generate_tasks(600, seed=0)
            if "np.fliplr(input_grid)\n" in p and max(len(x.input) for x in t.train) <= 6
        ][:1]
        assert pairs
        data = run / "mirror.jsonl"
        data.write_text(
            "".join(json.dumps({"task_id": t.task_id, **t.to_dict(), "program": p}) + "\n" for t, p in pairs)
        )
        params = dict(model_path=str(tiny), dataset=str(data), use_lora=False, grid_encoder="digits", seed=0)
        params.update(CONSTANT_LR, learning_rate=3e-3, max_grad_norm=1.0, max_seq_length=2048)
        params.update(per_device_train_batch_size=1, gradient_accumulation_steps=1, logging_steps=20)
        params.update(max_steps=SFT_STEPS, save_steps=SFT_STEPS)
        spec = JobSpec(kind="sft", name="her-warm", template="sft", run_dir=str(run / "sft"), params=params)
        spec.write()
        assert sft.main(spec) == 0
        (run / "sft" / "final").rename(run / "final")
        shutil.rmtree(run / "sft")
        done.write_text("ok\n")
    return run / "final"


@pytest.fixture(scope="session")
def warm_model(tiny_model_dir, tmp_path_factory) -> Path:
    cache = os.environ.get("ARCCTL_TEST_CACHE")
    root = Path(cache) if cache else tmp_path_factory.mktemp("her-warm")
    return _warm(tiny_model_dir, root)
