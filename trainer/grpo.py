"""GRPO training on ARC tasks: TRL's GRPOTrainer + LoRA, reward from executing the model's programs.

`main(spec) -> exit code`. Everything the console needs lands in the run dir (spec, metrics,
completions, events, checkpoints); a user error (bad dataset, bad parameter, missing extra) ends
in an `error` event, one stderr line and exit code 2.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs import rundir, trl_args
from jobs.errors import SpecError
from jobs.spec import JobSpec
from trainer import fast_generation, grpo_data, lifecycle, model_loading, runner
from trainer.checkpoint_retention import make_retention_callback
from trainer.grpo_reward import ArcReward, Shaping, Timing
from trainer.step_line import replace_printer
from trainer.telemetry import RunFiles, TelemetryCallback, is_summary
from trainer.wandb_run import wandb_run


def main(spec: JobSpec, run_dir: str | Path | None = None) -> int:
    run_dir = Path(run_dir or spec.run_dir)
    return runner.run_job(lambda files: _run(spec, run_dir, files), run_dir)


def grpo_config(p, run_dir: Path, bf16: bool, epochs: float | None = None, generation_backend: str = "trl"):
    from trl import GRPOConfig

    kwargs: dict[str, Any] = trl_args.grpo_args(p, run_dir, bf16, epochs)
    kwargs.update(fast_generation.trl_config_kwargs(generation_backend))
    return GRPOConfig(**kwargs)


def make_trainer_class():
    """GRPOTrainer plus the time split and the learning-rate fix on resume (built lazily: trl is heavy)."""
    from trl import GRPOTrainer

    class ArcGRPOTrainer(lifecycle.KeepsRunLearningRate, GRPOTrainer):
        arc_timing: Timing | None = None
        arc_generator: "fast_generation.FastGenerator | None" = None
        arc_penalties: tuple[float, float] = (0.0, 0.0)  # frequency, presence (transformers paths)

        def _penalized(self):
            import contextlib

            if self.use_vllm or not any(self.arc_penalties):
                return contextlib.nullcontext()
            from trainer.logits import penalized_generate

            return penalized_generate(self.accelerator.unwrap_model(self.model_wrapped), *self.arc_penalties)

        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, *args, **kwargs):
            import torch
            from trl.models.utils import disable_gradient_checkpointing, unwrap_model_for_generation

            # Checkpointing off for the call: a checkpointed layer in training mode may drop its KV cache.
            with disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs):
                if self.arc_generator is None or images is not None:
                    with self._penalized():
                        return super()._generate_single_turn(prompt_ids, images, multimodal_fields, *args, **kwargs)
                eos = list(getattr(self, "eos_token_ids", None) or [self.processing_class.eos_token_id])
                with unwrap_model_for_generation(self.model_wrapped, self.accelerator) as model, torch.no_grad():
                    return self.arc_generator.generate(model, prompt_ids, eos), None

        def _generate(self, prompts):
            t0 = time.perf_counter()
            try:
                return super()._generate(prompts)
            finally:
                if self.arc_timing is not None:
                    self.arc_timing.generation += time.perf_counter() - t0

        def log(self, logs, start_time=None):
            if self.arc_timing is not None and not is_summary(logs) and self.model.training:
                logs.update(self.arc_timing.as_metrics())
                self.arc_timing.reset()
                import torch

                if torch.cuda.is_available():  # what the job needs of a GPU, e.g. to fit a 24 GB card
                    logs["arc/gpu_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
            return super().log(logs, start_time)

    return ArcGRPOTrainer


def step_timer(timing: Timing):
    """A callback adding each optimizer step's wall time (generation + reward + update) to `timing`."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self._t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            timing.step_total += time.perf_counter() - getattr(self, "_t0", time.perf_counter())
            timing.steps += 1

    return StepTimer()


def guard_callback(spec, run_dir):
    """The collapse guard (trainer/guard.py), or None when params.guard is "off"."""
    from trainer.guard import make_guard_callback

    return make_guard_callback(spec, run_dir)


def _run(spec: JobSpec, run_dir: Path, files: RunFiles) -> int:
    p = spec.typed_params()
    if spec.kind == "grpo-refine" and not p.refine_dataset:
        raise SpecError("kind 'grpo-refine' needs refine_dataset (a file written by `arcctl refine-data`)")
    model_loading.check_optional_backends(p)
    from trainer.sandbox import Sandbox

    warn = lifecycle.prepare_run_dir(spec, run_dir, files)

    signal_stop = lifecycle.SignalStop()  # early: a preemption while loading still ends cleanly
    try:
        if p.use_vllm and p.vllm_mode == "server" and not p.vllm_server_url:
            import os

            from trainer.vllm_server import VLLMServer, split_gpus

            train_gpus, server_gpu = split_gpus(os.environ.get("CUDA_VISIBLE_DEVICES"))
            os.environ["CUDA_VISIBLE_DEVICES"] = train_gpus  # before CUDA is initialised
            with VLLMServer(p, run_dir, server_gpu) as server:
                p = p.model_copy(update={"vllm_server_url": server.base_url})
                return _train(spec, p, run_dir, files, warn, signal_stop, Sandbox)
        return _train(spec, p, run_dir, files, warn, signal_stop, Sandbox)
    finally:
        signal_stop.restore()


@dataclass
class Setup:
    """Everything a GRPO trainer is built from (shared with benchmarks/grpo_gpu.py)."""

    tasks: list
    model: Any
    tokenizer: Any
    peft_config: Any
    args: Any
    rows: "grpo_data.PromptRows"
    dataset: Any
    eos_ids: list[int]
    bf16: bool
    generation_backend: str = "trl"

    @property
    def prompts_per_step(self) -> int:
        return self.args.generation_batch_size // self.args.num_generations


def setup_training(p, run_dir: Path, warn) -> Setup:
    from trainer import encoders, prompts
    from trainer.task_select import select_tasks

    prompter = prompts.load_prompter(getattr(p, "prompt_template", None))  # before the model loads
    attempts = None
    if getattr(p, "refine_dataset", None):
        from trainer.refine import refine_tasks

        tasks, attempts = refine_tasks(p)
    else:
        tasks = select_tasks(p.dataset, p.max_tasks, p.task_ids)
    if not tasks:
        raise SpecError(f"dataset {p.dataset!r} has no tasks")
    model, tokenizer, peft_config = model_loading.load_for_training(p)
    bf16 = model_loading.resolve_bf16(p.bf16)
    encoder = encoders.get_encoder(p.grid_encoder)
    fitted = grpo_data.fit_tasks(tasks, p, encoder, tokenizer, warn, prompter, attempts)
    tasks, attempts = fitted if attempts is not None else (fitted, None)
    prompts_per_step = p.per_device_train_batch_size * p.gradient_accumulation_steps // p.num_generations
    # refine rows show an earlier program in the task's own frame: never augmented
    augment = p.use_data_augmentation and attempts is None
    n_rows, epochs = grpo_data.plan_rows(len(tasks), p, prompts_per_step, augment)
    import torch

    generation_backend = fast_generation.resolve(p, torch.cuda.is_available())
    args = grpo_config(p, run_dir, bf16, epochs, generation_backend)
    rows = grpo_data.PromptRows(
        tasks,
        n_rows,
        encoder,
        tokenizer,
        p.seed,
        augment,
        prompter=prompter,
        attempts=attempts,
        max_prompt_tokens=p.max_seq_length - p.max_completion_length,
    )
    eos = model.generation_config.eos_token_id
    eos_ids = ([eos] if isinstance(eos, int) else list(eos or [])) + [tokenizer.pad_token_id]
    return Setup(tasks, model, tokenizer, peft_config, args, rows, rows.as_dataset(), eos_ids, bf16, generation_backend)


def build_trainer(
    setup: Setup,
    reward,
    callbacks: list,
    timing: Timing | None,
    learning_rate: float,
    penalties: tuple[float, float] = (0.0, 0.0),
):
    trainer = make_trainer_class()(
        model=setup.model,
        reward_funcs=[reward],
        args=setup.args,
        train_dataset=setup.dataset,
        processing_class=setup.tokenizer,
        peft_config=setup.peft_config,
        callbacks=callbacks + ([step_timer(timing)] if timing is not None else []),
    )
    trainer.arc_timing = timing
    trainer.arc_learning_rate = learning_rate
    trainer.arc_penalties = penalties
    if setup.generation_backend in fast_generation.OWN_LOOP:
        trainer.arc_generator = fast_generation.FastGenerator(
            setup.generation_backend, setup.tokenizer, trainer.generation_config
        )
        trainer.arc_generator.penalties = penalties
    replace_printer(trainer)
    return trainer


def _train(spec, p, run_dir: Path, files: RunFiles, warn, signal_stop, Sandbox) -> int:
    resume = lifecycle.resolve_resume(spec, run_dir, warn)
    lifecycle.restart_aside(spec, run_dir, files, resume)
    timing = Timing()
    telemetry = TelemetryCallback(files)
    callbacks = [telemetry, signal_stop]
    guard = guard_callback(spec, str(run_dir))
    if guard is not None:
        callbacks.append(guard)
    retention = make_retention_callback(spec, run_dir, guard)  # after the guard: its warnings are in
    if retention is not None:
        callbacks.append(retention)
    start_step = rundir.checkpoint_step(resume) or 0
    with Sandbox(
        workers=p.n_jobs, timeout_s=p.sandbox_timeout_s, memory_mb=p.sandbox_memory_mb, common_module=p.common_module
    ) as sandbox:
        # the sandbox starts first: a common_module that fails to import is reported before the
        # model loads, not minutes later
        setup = setup_training(p, run_dir, warn)
        reward = ArcReward(
            setup.rows,
            sandbox,
            p.reward_name,
            files=files,
            sample=p.completions_sample,
            seed=p.seed + start_step,
            timing=timing,
            eos_ids=setup.eos_ids,
            shaping=Shaping.from_params(p),
            prefix=setup.rows.prompter.prefix,
        )
        trainer = build_trainer(
            setup, reward, callbacks, timing, p.learning_rate, (p.frequency_penalty, p.presence_penalty)
        )
        model_loading.check_checkpoint_fits(trainer.model, resume)
        files.started(
            step=start_step,
            resume_from=resume,
            tasks=len(setup.tasks),
            rows=len(setup.rows),
            prompts_per_step=setup.prompts_per_step,
            bf16=setup.bf16,
            backend=p.backend,
            use_vllm=p.use_vllm,
            generation_backend=setup.generation_backend,
        )
        if not signal_stop.received:  # a signal while loading: nothing trained, nothing to save
            with wandb_run(spec, run_dir, files.enabled, warn, trainer):
                trainer.train(resume_from_checkpoint=resume)
    if signal_stop.received:
        reason = "signal"
    elif getattr(guard, "stop_reason", None):
        reason = guard.stop_reason
    else:
        reason = "completed"
    step = trainer.state.global_step or start_step
    files.event(rundir.EV_STOPPED, reason=reason, signal=signal_stop.received, step=step, **telemetry.summary)
    return 0
