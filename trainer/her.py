"""HER jobs: hindsight experience replay on single target tasks (test-time search and learn).

For each target, epoch after epoch: sample programs in groups (few at low temperature to exploit,
many at high temperature to explore), run them on the target's inputs, keep the best ones (one per
distinct set of outputs), relabel each as the solution of the task its outputs define, fine-tune a
LoRA on those (prompt, program) pairs, and sample again; until a program solves every train pair
or the epochs run out. Each target starts from the same weights (model_path + adapter_path, or a
fresh LoRA), so epochs-to-solve compares models.

Sampling goes through trainer.fast_generation's backends (`generation_backend`, as for GRPO; `auto`:
the plain `model.generate` of the PEFT model on a CPU, on a GPU the merged copy sampled by the
compiled decode loop, re-merged from the adapter before every sampling call since fine-tuning moves
it), in eval mode with the KV cache on and gradient checkpointing off for the call.

Run dir: one metrics.jsonl line per epoch (`her/` names, step = epochs done in the whole job),
each epoch's best programs in completions.jsonl, `her_epoch` / `her_target` events
(jobs.her_report reads them), and a checkpoint-N per epoch (adapter + her_state.json); a restarted
run continues at the next epoch of the target it was on.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from jobs import rundir, trl_args
from jobs.errors import JobsError, SpecError
from jobs.her_report import EV_HER_EPOCH, EV_HER_TARGET, HER_STATE
from trainer import lifecycle, model_loading
from trainer.telemetry import RunFiles

EXIT_USER_ERROR = 2
EXIT_CRASH = 1


def main(spec: Any, run_dir: str | Path | None = None) -> int:
    run_dir = Path(run_dir or spec.run_dir)
    files = RunFiles(run_dir)
    try:
        return _run(spec, run_dir, files)
    except (JobsError, ValueError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        files.final_event(rundir.EV_ERROR, message=msg, kind=type(e).__name__)
        print(f"trainer: error: {msg}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as e:  # crash: keep the traceback in stderr.log
        files.final_event(rundir.EV_ERROR, message=f"{type(e).__name__}: {e}", kind=type(e).__name__)
        traceback.print_exc()
        print(f"trainer: crashed: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_CRASH
    finally:
        files.close()


def load_targets(p: Any) -> list[Any]:
    from jobs.her_targets import is_toy, toy_names

    if is_toy(p.dataset):
        from trainer.synthetic import toy_targets

        return toy_targets(toy_names(p.dataset, p.task_ids, p.max_tasks), seed=p.seed)
    from trainer.task_select import select_tasks

    return select_tasks(p.dataset, p.max_tasks, p.task_ids)


# --- checkpoints ----------------------------------------------------------------------------


def read_state(checkpoint: str, targets: list[Any]) -> dict[str, Any]:
    path = Path(checkpoint) / HER_STATE
    try:
        state = _checked_state(path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SpecError(
            f"{checkpoint}: not a HER checkpoint ({HER_STATE}: {e}); to start from its weights give it as adapter_path"
        ) from None
    saved_at = rundir.checkpoint_step(checkpoint)
    if saved_at is not None and state["step"] != saved_at:
        # the job goes on at state["step"] + 1: its saves would land on checkpoints already there
        # (an OSError on the rename after an epoch's work) and its metrics repeat or skip steps
        raise SpecError(
            f"{checkpoint}: {HER_STATE} says step {state['step']}, the checkpoint is step {saved_at}; "
            "it was copied or renamed from another checkpoint"
        )
    index, task_id = state["target"], state["task_id"]
    if index >= len(targets) or targets[index].task_id != task_id:
        raise SpecError(
            f"{checkpoint}: was on target {task_id!r} (number {index + 1}), which is not target "
            f"{index + 1} of this job; keep the parent's dataset and task_ids when resuming or forking"
        )
    return state


def _checked_state(path: Path) -> dict[str, Any]:
    """her_state.json with every field the job reads, of the type it reads it as. A hand-edited or
    foreign file stopped the job mid-run: a FIFO hung it, `"epoch": Infinity` was an OverflowError
    traceback, a `target` of -1 (with the last target's id) restarted every target from the last,
    a missing `done` or a `results` entry without `best_pixel_score` was a KeyError after the
    model had loaded."""
    import os
    import stat

    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError("not a regular file")
    state = rundir.loads(path.read_text(encoding="utf-8"))
    if not isinstance(state, dict):
        raise ValueError(f"expected an object, got {type(state).__name__}")

    def count(key: str) -> int:
        v = state[key]
        if type(v) is not int or v < 0:
            raise ValueError(f"{key} is {v!r}, expected an integer >= 0")
        return v

    count("target"), count("epoch"), count("step")
    if not isinstance(state["task_id"], str):
        raise ValueError(f"task_id is {state['task_id']!r}, expected a string")
    if type(state["done"]) is not bool:
        raise ValueError(f"done is {state['done']!r}, expected true or false")
    results = state.get("results", {})
    if not isinstance(results, dict):
        raise ValueError("results is not an object")
    for tid, r in results.items():
        score = r.get("best_pixel_score") if isinstance(r, dict) else None
        if type(score) not in (int, float) or not 0 <= score <= 1:
            raise ValueError(f"results[{tid!r}] has no best_pixel_score in 0..1")
        if r.get("solved_at", 0) is not None and type(r.get("solved_at")) is not int:
            raise ValueError(f"results[{tid!r}] has no solved_at (an epoch or null)")
    return state


def save_checkpoint(model: Any, tokenizer: Any, run_dir: Path, state: dict[str, Any]) -> Path:
    """checkpoint-<step>: adapter, tokenizer, trainer_state.json (what the run-dir readers check) and
    the HER state; written beside and renamed into place, so a stop mid-save leaves no half checkpoint."""
    final = run_dir / f"{rundir.CHECKPOINT_PREFIX}{state['step']}"
    tmp = run_dir / f".{final.name}.tmp"
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    (tmp / "trainer_state.json").write_text(json.dumps({"global_step": state["step"]}) + "\n")
    (tmp / HER_STATE).write_text(json.dumps(state, indent=1) + "\n")
    tmp.replace(final)
    return final


def _target_done(files: RunFiles, task_id: str, index: int, summary: dict[str, Any], epochs: int) -> None:
    files.event(
        EV_HER_TARGET,
        task_id=task_id,
        target=index,
        solved=summary["solved_at"] is not None,
        solved_at=summary["solved_at"],
        epochs=epochs,
        best_pixel_score=summary["best_pixel_score"],
        test_correct=summary["test_correct"],
    )


def _adapter_weights(checkpoint: str) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(Path(checkpoint) / "adapter_model.safetensors"))


# --- one epoch ------------------------------------------------------------------------------


def sample(generator: Any, prompt: str, p: Any, seed: int) -> tuple[list[Any], list[float]]:
    """Every sampling group's completions of the target prompt, with their temperatures; group g is
    seeded with seed + g (same seed, same backend, same weights: same programs)."""
    import contextlib

    model = generator.model
    model.eval()
    model.config.use_cache = True  # fine-tuning may have turned the KV cache off
    ctx: Any = contextlib.nullcontext()
    if getattr(model, "is_gradient_checkpointing", False):
        # off for the call (a checkpointed layer may drop its KV cache); the next fine-tuning's
        # trainer switches it back on from its own arguments
        from trl.models.utils import disable_gradient_checkpointing

        ctx = disable_gradient_checkpointing(model, getattr(p, "gradient_checkpointing_kwargs", None))
    completions, temps = [], []
    with ctx:
        for g, group in enumerate(p.sampling):
            if group["n"] == 0:
                continue
            comps = generator.generate([prompt] * group["n"], p.max_new_tokens, group["temperature"], p.top_p, seed + g)
            completions += comps
            temps += [group["temperature"]] * len(comps)
    return completions, temps


def relabelled_examples(task: Any, kept: list[Any], p: Any, tokenizer: Any, warn, seed: int) -> list[dict[str, str]]:
    """SFT examples (prompt of the relabelled task -> the program), shuffled; [] when none fits."""
    from trainer.her_relabel import relabel
    from trainer.sft import build_examples

    try:
        examples = build_examples([(relabel(task, s), s.program) for s in kept], p, tokenizer, warn)
    except SpecError as e:  # every relabelled example is longer than max_seq_length
        warn(f"{task.task_id}: no fine-tuning this epoch ({e})")
        return []
    random.Random(seed).shuffle(examples)
    return examples


def finetune(
    model: Any, tokenizer: Any, examples: list[dict[str, str]], p: Any, run_dir: Path, bf16: bool, stop: Any
) -> float | None:
    """One pass (p.epochs) of SFT over the relabelled examples; the mean training loss."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = trl_args.training_args(p, run_dir / ".her-finetune", bf16)
    args.update(save_strategy="no", max_steps=-1, logging_steps=max(1, p.logging_steps))
    config = SFTConfig(
        **args,
        max_length=p.max_seq_length,
        completion_only_loss=True,
        packing=False,
        dataset_num_proc=None,
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(examples),
        processing_class=tokenizer,
        callbacks=[stop],
    )
    out = trainer.train()
    loss = getattr(out, "training_loss", None)
    return float(loss) if loss is not None and math.isfinite(loss) else None


def _run(spec: Any, run_dir: Path, files: RunFiles) -> int:
    p = spec.typed_params()
    model_loading.check_optional_backends(p)
    warn = lifecycle.prepare_run_dir(spec, run_dir, files)
    targets = load_targets(p)
    resume = lifecycle.resolve_resume(spec, run_dir, warn)
    state = read_state(resume, targets) if resume else None
    lifecycle.restart_aside(spec, run_dir, files, resume)

    import peft
    from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict

    from trainer.encoders import get_encoder
    from trainer.fast_generation import resolve
    from trainer.generation import TransformersGenerator
    from trainer.her_relabel import completion_rows, epoch_metrics, score_samples, select
    from trainer.prompts import build_prompt_text
    from trainer.sandbox import Sandbox

    model, tokenizer, peft_config = model_loading.load_for_training(p)
    if peft_config is not None:
        model = peft.get_peft_model(model, peft_config)
    model_loading.check_checkpoint_fits(model, resume)
    import torch

    if torch.cuda.is_available():  # sampling comes first: the trainer would move it only when it trains
        model.to("cuda")
    # every target starts from these weights
    initial = {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}
    bf16 = model_loading.resolve_bf16(p.bf16)
    encoder = get_encoder(p.grid_encoder)
    generation_backend = resolve(p, torch.cuda.is_available())
    generator = TransformersGenerator.for_model(
        model, tokenizer, batch_size=p.batch_size, max_seq_length=p.max_seq_length, backend=generation_backend
    )

    prompts = {t.task_id: build_prompt_text(t, encoder, tokenizer, test_index=0) for t in targets}
    longest = 0
    for tid, text in prompts.items():  # before any sampling: a target that cannot fit fails the job now
        n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        if n >= p.max_seq_length:
            raise SpecError(f"target {tid}: its prompt is {n} tokens, max_seq_length is {p.max_seq_length}")
        longest = max(longest, n)
    generator.reserve(longest, p.max_new_tokens)  # fast backends: one cache size, compiled once
    step = int(state["step"]) if state else 0
    results: dict[str, Any] = dict(state.get("results", {})) if state else {}
    start = int(state["target"]) + (1 if state and state["done"] else 0) if state else 0
    files.started(
        kind="her",
        step=step,
        resume_from=resume,
        targets=[t.task_id for t in targets],
        start_target=start,
        bf16=bf16,
        generation_backend=generation_backend,
    )
    stop = lifecycle.SignalStop()
    sandbox = Sandbox(
        workers=p.n_jobs, timeout_s=p.sandbox_timeout_s, memory_mb=p.sandbox_memory_mb, common_module=p.common_module
    )
    try:
        for ti in range(start, len(targets)):
            task = targets[ti]
            continuing = state is not None and not state["done"] and int(state["target"]) == ti
            set_peft_model_state_dict(model, _adapter_weights(resume) if continuing else initial)
            first_epoch = int(state["epoch"]) + 1 if continuing else 1
            summary = results.get(task.task_id) or {
                "task_id": task.task_id,
                "solved_at": None,
                "best_pixel_score": 0.0,
                "test_correct": None,
            }
            prompt = prompts[task.task_id]
            if continuing and first_epoch > p.her_epochs:
                # a fork or resume with fewer her_epochs than the target has run: it is finished
                # (the loop below ran no epoch, and the target went without its record)
                _target_done(files, task.task_id, ti, summary, first_epoch - 1)
                continue
            for epoch in range(first_epoch, p.her_epochs + 1):
                t0 = time.perf_counter()
                completions, temps = sample(generator, prompt, p, seed=p.seed + 1000 * step)
                t1 = time.perf_counter()
                samples = score_samples(completions, temps, task, sandbox)
                t2 = time.perf_counter()
                kept = select(samples, p.keep_programs)
                solved = any(s.solved for s in samples)
                done = (solved and p.stop_when_solved) or epoch == p.her_epochs
                loss = None
                if stop.received:
                    break  # this epoch is not checkpointed: a restart samples it again
                if kept and not (solved and p.stop_when_solved):
                    examples = relabelled_examples(task, kept, p, tokenizer, warn, seed=p.seed + step)
                    if examples:
                        loss = finetune(model, tokenizer, examples, p, run_dir, bf16, stop)
                    if stop.received:
                        break
                t3 = time.perf_counter()
                step += 1
                row = epoch_metrics(samples, kept)
                row.update(
                    {
                        "her/target": ti,
                        "her/epoch": epoch,
                        "her/train_loss": loss,
                        "her/time_sampling": round(t1 - t0, 3),
                        "her/time_execution": round(t2 - t1, 3),
                        "her/time_finetune": round(t3 - t2, 3),
                    }
                )
                files.metric(step, row)
                files.completions(completion_rows(kept or samples[:4], step, task.task_id, epoch))
                summary["best_pixel_score"] = max(summary["best_pixel_score"], row["her/best_pixel_score"])
                if solved and summary["solved_at"] is None:
                    summary["solved_at"] = epoch
                    summary["test_correct"] = row["her/best_test_correct"]
                summary["epochs"] = epoch
                results[task.task_id] = summary
                new_state = {
                    "step": step,
                    "target": ti,
                    "task_id": task.task_id,
                    "epoch": epoch,
                    "done": done,
                    "results": results,
                }
                # the epoch's record before its checkpoint: a stop in between repeats the epoch, whose
                # later record then wins (jobs.her_report), rather than losing it
                files.event(
                    EV_HER_EPOCH,
                    step=step,
                    task_id=task.task_id,
                    target=ti,
                    epoch=epoch,
                    solved=solved,
                    best_pixel_score=row["her/best_pixel_score"],
                    mean_pixel_score=row["her/mean_pixel_score"],
                    test_correct=row["her/best_test_correct"],
                    checkpoint=str(run_dir / f"{rundir.CHECKPOINT_PREFIX}{step}"),
                )
                ckpt = save_checkpoint(model, tokenizer, run_dir, new_state)
                files.event(rundir.EV_CHECKPOINT, step=step, path=str(ckpt))
                if done:
                    _target_done(files, task.task_id, ti, summary, epoch)
                    break
            if stop.received:
                break
    finally:
        stop.restore()
        sandbox.close()
    solved_n = sum(1 for r in results.values() if r.get("solved_at") is not None)
    files.event(
        rundir.EV_STOPPED,
        reason="signal" if stop.received else "completed",
        signal=stop.received,
        step=step,
        targets=len(targets),
        solved=solved_n,
    )
    return 0
