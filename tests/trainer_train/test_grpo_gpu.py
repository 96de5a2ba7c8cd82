"""GRPO on a CUDA GPU in bf16 (skipped without one): the same run-dir contract as on CPU."""

from __future__ import annotations

import pytest

from jobs import rundir

from .helpers import completions, events, metrics, run_trainer

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_grpo_bf16_on_gpu(tmp_path, small_grpo_spec):
    run_dir = tmp_path / "run"
    small_grpo_spec(
        run_dir, max_steps=5, save_steps=5, num_generations=4, per_device_train_batch_size=4, max_completion_length=64
    ).write()
    proc = run_trainer("run", str(run_dir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert events(run_dir)[0]["bf16"] is True
    assert [m["step"] for m in metrics(run_dir)] == [1, 2, 3, 4, 5]
    assert len(completions(run_dir)) == 5 * 8
    assert rundir.newest_valid_checkpoint(str(run_dir)).step == 5
