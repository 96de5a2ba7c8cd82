"""Parameters for short runs of the project's tiny model on the CPU, shared by the tests that train,
evaluate or cancel it. Each builder holds what its callers have in common; a test passes the rest
as keywords, which win over the shared values."""

from __future__ import annotations

from pathlib import Path

from jobs.spec import JobSpec

# digit-encoded grids and a context that fits any small ARC task keep CPU steps short
SHORT_PROMPTS = dict(grid_encoder="digits", max_seq_length=4096)

# SFT on the synthetic generator's tasks, LoRA r8, batches of two, every step logged
TINY_SFT = dict(SHORT_PROMPTS, dataset="synthetic", synthetic_tasks=40, lora_r=8, logging_steps=1)
TINY_SFT.update(per_device_train_batch_size=2, gradient_accumulation_steps=1)

# a learning rate that holds from the first step: short runs have no room for a warmup
CONSTANT_LR = dict(lr_scheduler_type="constant", warmup_ratio=0.0)

# GRPO on real ARC-AGI-1 training tasks: two completions a prompt, one sandbox worker
TINY_GRPO = dict(SHORT_PROMPTS, dataset="arc1/train", num_generations=2, per_device_train_batch_size=2, n_jobs=1)


# the same GRPO run through `arcctl submit`: four synthetic tasks, two completions a prompt
TINY_CLI_GRPO = dict(dataset="synthetic:4", num_generations=2, n_jobs=1, per_device_train_batch_size=2)
TINY_CLI_GRPO.update(gradient_accumulation_steps=1)


def tiny_grpo_options(**params) -> list[str]:
    """TINY_CLI_GRPO with `params` over it as `-p key=value` options; a dotted key goes through `**{}`."""
    return [arg for key, value in {**TINY_CLI_GRPO, **params}.items() for arg in ("-p", f"{key}={value}")]


def tiny_sft_params(model: Path | str, **over) -> dict:
    return {"model_path": str(model), **TINY_SFT, **over}


def tiny_grpo_params(model: Path | str, **over) -> dict:
    return {"model_path": str(model), **TINY_GRPO, **over}


def tiny_eval_params(model: Path | str, **over) -> dict:
    """Evaluation of the first three ARC-AGI-1 training tasks."""
    return {"model_path": str(model), "dataset": "arc1/train", "max_tasks": 3, **over}


def job_spec(kind: str, run_dir: Path, params: dict, **fields) -> JobSpec:
    """A spec from the template of its kind, named after its run dir unless `fields` name it."""
    return JobSpec(
        **{"kind": kind, "name": run_dir.name, "template": kind, "run_dir": str(run_dir), "params": params, **fields}
    )
