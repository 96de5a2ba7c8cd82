"""Small helpers for the trainer tests: specs for a tiny, fast GRPO run and run-dir readers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jobs import rundir
from jobs.spec import JobSpec
from tests.tiny_params import TINY_GRPO

REPO = Path(__file__).resolve().parents[2]
EOS = 2  # the tiny model's end-of-sequence token id


def program(body: str) -> str:
    """A completion: a transform() with this body, closing the code block the prompt opened."""
    return f"\n# mirror\n\ndef transform(input_grid):\n{body}\n```\n"


FLIP_LR = program("    return np.fliplr(input_grid)")
FLIP_UD = program("    return np.flipud(input_grid)")

# Small tasks keep prompts short on the tiny model: ARC-AGI-1 train tasks with small grids.
FAST = dict(TINY_GRPO, max_tasks=3, gradient_accumulation_steps=2, max_completion_length=32, learning_rate=1e-3)
FAST.update(sandbox_timeout_s=2.0, seed=7)
# fixed here, not taken from the grpo template: what these tests assert depends on them
FAST.update(lora_r=16, repetition_penalty=1.0, scale_rewards="group", mask_truncated_completions=False)

# Health thresholds that turn entropy "critical" as soon as a baseline exists: baseline = row 3
# (after skipping 2), smoothing window 1, no persistence; every entropy is within 100x of it.
ENTROPY_TRIP = dict(baseline_skip=2, baseline_rows=1, window=1, persist=1)
ENTROPY_TRIP.update(entropy_low_watch=100.0, entropy_low_warning=100.0, entropy_low_critical=100.0)


def grpo_spec(run_dir: Path, model: Path, **params) -> JobSpec:
    return JobSpec(
        kind="grpo",
        name=run_dir.name,
        template="grpo",
        run_dir=str(run_dir),
        params={"model_path": str(model), **FAST, **params},
    )


def trainer_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "trainer", *args]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("TOKENIZERS_PARALLELISM", "false")
    e["OMP_NUM_THREADS"] = "1"
    return e


def run_trainer(*args: str, timeout: float = 360) -> subprocess.CompletedProcess:
    return subprocess.run(trainer_cmd(*args), cwd=REPO, env=env(), capture_output=True, text=True, timeout=timeout)


def events(run_dir: Path) -> list[dict]:
    return rundir.read_jsonl(run_dir / rundir.EVENTS)


def metrics(run_dir: Path) -> list[dict]:
    return rundir.read_jsonl(run_dir / rundir.METRICS)


def completions(run_dir: Path) -> list[dict]:
    return rundir.read_jsonl(run_dir / rundir.COMPLETIONS)
