"""The trainer's stdout line: step/total, smoothed steps/s and ETA before the step's key metrics,
fed through the real Trainer callback interface."""

from __future__ import annotations

import pytest
from transformers import TrainerControl, TrainerState

from trainer.step_line import StepLine

pytestmark = pytest.mark.timeout(60)


def test_step_total_rate_and_eta(capsys):
    clock = iter([1000.0, 1010.0, 1020.0, 1030.0, 1300.0])
    cb = StepLine(clock=lambda: next(clock))
    args = None  # the line reads only the state
    state = TrainerState(max_steps=10, is_world_process_zero=True)
    for step in (1, 2, 3, 4):
        state.global_step = step
        cb.on_log(
            args, state, TrainerControl(), logs={"reward": 0.25, "kl": 0.0123456, "completions/mean_length": 212.0}
        )
    state.global_step = 5  # a 270 s pause (an eviction, a checkpoint upload) does not count as speed
    cb.on_log(args, state, TrainerControl(), logs={"loss": 1.5})
    cb.on_log(args, state, TrainerControl(), logs={"train_loss": 1.5, "total_flos": 1.0})  # summary: no line
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "step 1/10 (10%)  -  ETA -  reward=0.25 kl=0.01235 mean_length=212"
    assert lines[1] == "step 2/10 (20%)  0.1 st/s  ETA 1m  reward=0.25 kl=0.01235 mean_length=212"
    assert lines[3].startswith("step 4/10 (40%)  0.1 st/s  ETA 1m  ")
    assert lines[4] == "step 5/10 (50%)  0.1 st/s  ETA 50s  loss=1.5"
    assert len(lines) == 5


def test_without_a_step_limit_no_eta(capsys):
    clock = iter([0.0, 2.0])
    cb = StepLine(clock=lambda: next(clock))
    args = None  # the line reads only the state
    state = TrainerState(max_steps=-1, is_world_process_zero=True)
    for step in (1, 2):
        state.global_step = step
        cb.on_log(args, state, TrainerControl(), logs={"reward": True, "loss": 0.5})
    assert capsys.readouterr().out.splitlines()[-1] == "step 2  0.5 st/s  ETA -  loss=0.5"


def test_eval_generation_line_has_speed_and_eta():
    from jobs.progress import ProgressTracker
    from trainer.evaluate import _progress_line

    tracker = ProgressTracker()
    tracker.feed([{"step": 40, "time": 100.0}])  # resumed with 40 predictions already written
    assert _progress_line(tracker, 80, 400, 100, 120.0) == "80/400 predictions (100 tasks)  2 predictions/s  ETA 2m"
    assert _progress_line(tracker, 400, 400, 100, 280.0) == "400/400 predictions (100 tasks)  2 predictions/s  ETA 0s"


def test_an_all_masked_step_prints_dashes_not_trls_zeros(capsys):
    from types import SimpleNamespace

    clock = iter([0.0, 1.0, 2.0])
    cb = StepLine(clock=lambda: next(clock))
    state = TrainerState(max_steps=10, is_world_process_zero=True)
    row = {"reward": 0.0, "kl": 0.0, "loss": 0.0, "completions/clipped_ratio": 1.0}
    for step, masking in ((1, True), (2, False)):
        state.global_step = step
        cb.on_log(SimpleNamespace(mask_truncated_completions=masking), state, TrainerControl(), logs=dict(row))
    masked, unmasked = capsys.readouterr().out.splitlines()
    assert masked.endswith("reward=0 kl=– clipped_ratio=1 loss=– [all masked]"), masked
    assert unmasked.endswith("reward=0 kl=0 clipped_ratio=1 loss=0"), unmasked
