"""Typed job parameters (jobs.params) -> the keyword arguments of TRL's GRPOConfig and SFTConfig.

The one place a parameter meets its TRL name. Pure Python (no trl import): the trainer builds the
config objects from these dicts, tests check the mapping field by field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def training_args(p: Any, run_dir: str | Path, bf16: bool, epochs: float | None = None) -> dict[str, Any]:
    """The TrainingArguments GRPO and SFT share: optimisation, schedule, checkpoints, logging, seeds.
    Our files are the telemetry (GRPO and SFT add W&B: `report_to`); optimizer state is kept so a
    resume is exact."""
    return dict(
        output_dir=str(run_dir),
        learning_rate=p.learning_rate,
        lr_scheduler_type=p.lr_scheduler_type,
        # transformers 5 folds warmup_ratio into warmup_steps: a float below 1 is a ratio.
        warmup_steps=min(p.warmup_ratio, 0.999) if p.warmup_ratio > 0 else 0,
        num_train_epochs=p.epochs if epochs is None else epochs,
        max_steps=p.max_steps,
        max_grad_norm=p.max_grad_norm,
        per_device_train_batch_size=p.per_device_train_batch_size,
        gradient_accumulation_steps=p.gradient_accumulation_steps,
        save_strategy="steps",
        save_steps=p.save_steps,
        logging_steps=p.logging_steps,
        seed=p.seed,
        data_seed=p.seed,
        bf16=bf16,
        report_to="none",
        disable_tqdm=True,
        save_only_model=False,
    )


def report_to(p: Any) -> str:
    """`wandb = true`: TRL's own W&B callback logs every step (trainer.wandb_run starts the run it
    logs into: id, config, project); nothing else writes to W&B."""
    return "wandb" if p.wandb else "none"


def grpo_args(p: Any, run_dir: str | Path, bf16: bool, epochs: float | None = None) -> dict[str, Any]:
    """GRPOConfig keyword arguments of a jobs.params.GRPOParams (sampling, loss, generation)."""
    kwargs = training_args(p, run_dir, bf16, epochs)
    kwargs.update(
        report_to=report_to(p),
        beta=p.beta,
        repetition_penalty=p.repetition_penalty,
        temperature=p.temperature,
        top_p=p.top_p,
        scale_rewards=p.scale_rewards,
        loss_type=p.loss_type,
        mask_truncated_completions=p.mask_truncated_completions,
        num_generations=p.num_generations,
        max_completion_length=p.max_completion_length,
        remove_unused_columns=False,
        use_vllm=p.use_vllm,
        # the table goes to W&B (and parquet files); printed, it would flood stdout.log
        log_completions=p.log_completions and p.wandb,
        num_completions_to_print=0,
    )
    if p.use_vllm and (p.frequency_penalty or p.presence_penalty):
        # vLLM's SamplingParams has both; on the transformers path trainer.grpo adds a logits processor
        kwargs["generation_kwargs"] = {"frequency_penalty": p.frequency_penalty, "presence_penalty": p.presence_penalty}
    if p.use_vllm:
        kwargs.update(
            vllm_mode=p.vllm_mode,
            vllm_gpu_memory_utilization=p.gpu_memory_utilization,
            vllm_max_model_length=p.max_seq_length,
        )
        if p.vllm_mode == "server" and p.vllm_server_url:
            kwargs["vllm_server_base_url"] = p.vllm_server_url
    else:
        # A diverging run (the collapse the guard exists for) can put NaN/inf in the logits; on CUDA
        # sampling from them is a device-side assert that kills the process before any alert.
        kwargs["generation_kwargs"] = {"remove_invalid_values": True}
    return kwargs


def sft_args(p: Any, run_dir: str | Path, bf16: bool, has_eval: bool) -> dict[str, Any]:
    """SFTConfig keyword arguments of a jobs.params.SFTParams."""
    return dict(
        **{**training_args(p, run_dir, bf16), "report_to": report_to(p)},
        per_device_eval_batch_size=p.per_device_train_batch_size,
        max_length=p.max_seq_length,
        packing=p.packing,
        completion_only_loss=p.completion_only_loss,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=p.save_steps if has_eval else None,
        # workers only via fork-safe defaults: spawn-started workers cannot pickle TRL's local
        # functions
        dataset_num_proc=None,
        dataloader_num_workers=0,
        # not include_num_input_tokens_seen: TRL's own `num_tokens` suffices (telemetry copes
        # with the train_runtime it would add to every line: see trainer.telemetry.is_summary)
    )
