"""Parameter sets and job helpers the GPU benchmarks share.

The demo pipeline and the HER benchmark warm-start the same tiny model on synthetic tasks; the GRPO
throughput and collapse benchmarks run GRPO with the same batch shapes and the sampling/loss settings
that benchmarks/RESULTS.md was measured with. Each set is written once here so a change reaches every
benchmark that uses it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The tiny model (trainer.tiny_model) and its synthetic-task SFT warm start, without the step count
# (each benchmark picks its own): a plumbing check on a CPU and a model that writes programs on a GPU.
TINY_SFT = {
    "cpu": dict(hidden=64, layers=2, heads=4, sft_tasks=200, sft_batch=4, sft_lr=1e-3),
    "gpu": dict(hidden=384, layers=6, heads=6, sft_tasks=4000, sft_batch=16, sft_lr=1e-3),
}


def tiny_presets(rows: dict[str, tuple]) -> dict[str, dict]:
    """The "cpu" and "gpu" presets of a benchmark: TINY_SFT's of that name plus `rows`, each
    `key: (cpu value, gpu value)` so the two sizes read side by side."""
    return {name: {**TINY_SFT[name], **{k: v[i] for k, v in rows.items()}} for i, name in enumerate(TINY_SFT)}


# GRPO sampling and loss settings that benchmarks/RESULTS.md was measured with.
MEASURED_GRPO = dict(repetition_penalty=1.0, scale_rewards="group", mask_truncated_completions=False)


def synthetic_sft_params(model_path: str, cfg: dict, *, use_lora: bool, save_steps: int) -> dict:
    """SFT job params for a warm start on `cfg["sft_tasks"]` synthetic tasks (cfg: a TINY_SFT preset + sft_steps)."""
    return dict(
        model_path=model_path,
        dataset="synthetic",
        synthetic_tasks=cfg["sft_tasks"],
        max_steps=cfg["sft_steps"],
        learning_rate=cfg["sft_lr"],
        per_device_train_batch_size=cfg["sft_batch"],
        gradient_accumulation_steps=1,
        lr_scheduler_type="cosine",
        warmup_ratio=0.05,
        save_steps=save_steps,
        logging_steps=max(1, cfg["sft_steps"] // 50),
        use_lora=use_lora,
        max_grad_norm=1.0,
    )


def grpo_batch(on_gpu: bool, *, completion_length: int, tasks: int, cpu_accumulation: int) -> dict:
    """GRPO batch shape: a realistic small run on a GPU, a seconds-long one on a CPU."""
    generations, accumulation, jobs = (8, 2, 8) if on_gpu else (2, cpu_accumulation, 1)
    return dict(
        num_generations=generations,
        per_device_train_batch_size=generations,
        gradient_accumulation_steps=accumulation,
        max_completion_length=completion_length,
        max_tasks=tasks,
        n_jobs=jobs,
    )


def grpo_constant_lr(*, steps: int, save_steps: int, learning_rate: float, seed: int) -> dict:
    """GRPO on real ARC-AGI-1 tasks at a constant learning rate, LoRA r=16, the RESULTS.md sampling settings."""
    return dict(
        dataset="arc1/train",
        grid_encoder="digits",
        max_seq_length=4096,
        max_steps=steps,
        save_steps=save_steps,
        logging_steps=1,
        learning_rate=learning_rate,
        lr_scheduler_type="constant",
        warmup_ratio=0.0,
        beta=0.01,
        seed=seed,
        temperature=1.0,
        sandbox_timeout_s=1.0,
        lora_r=16,
        **MEASURED_GRPO,
    )


def job_env(**extra: str) -> dict[str, str]:
    """This process's environment with the repository first on PYTHONPATH (jobs import `trainer`/`jobs`)."""
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra)


def run_logged(name: str, cmd: list[str], log: Path, env: dict, *, append: bool = False) -> float:
    """Run `cmd` from the repo root with its output in `log`; exit with the log's tail if it fails. Returns wall s."""
    print(f"== {name}: {' '.join(cmd)}", flush=True)
    t0 = time.time()
    with open(log, "a" if append else "w") as f:
        child = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
        # A stop signal (a device call's `timeout`, a Ctrl-C) reaches the job too and this waits for
        # it: the trainer saves a checkpoint before it stops, and what runs after this process (the
        # next stage, an export of the newest checkpoint) must find it written. A signal the job got
        # already through the process group only sets its stop flag again.
        stops = (signal.SIGTERM, signal.SIGINT)
        previous = {s: signal.signal(s, lambda sig, _frame: child.send_signal(sig)) for s in stops}
        try:
            rc = child.wait()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    dt = time.time() - t0
    if rc != 0:
        sys.exit(f"{name} failed (exit {rc}) after {dt:.0f}s; last lines of {log}:\n" + log.read_text()[-3000:])
    print(f"   done in {dt:.1f}s", flush=True)
    return dt
