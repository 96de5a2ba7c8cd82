"""SFT jobs: TRL SFTTrainer + LoRA (DoRA / rsLoRA options) on (task prompt -> program) examples.

Examples are prompt-completion pairs: the prompt is exactly what eval and GRPO show the model
(chat template + the pre-filled assistant opening), the completion is the program's continuation
and the closing fence. With `completion_only_loss` the loss covers only the completion.

Sources: `synthetic_tasks > 0` generates that many synthetic tasks with their programs
(trainer.synthetic); otherwise `dataset` is a file of tasks with known programs:
  *.jsonl  one {"task_id", "train", "test", "program"} object per line
  *.json   {task_id: {"train", "test", "program"}}
Telemetry (metrics.jsonl / events.jsonl / checkpoints) is the same as for GRPO.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Any

from jobs import processes, rundir, trl_args
from jobs.errors import SpecError
from trainer import lifecycle, model_loading, runner
from trainer.checkpoint_retention import make_retention_callback
from trainer.step_line import replace_printer
from trainer.telemetry import RunFiles, TelemetryCallback
from trainer.wandb_run import wandb_run

PROGRAM_KEYS = ("program", "code", "solution")


def main(spec: Any, run_dir: str | Path | None = None) -> int:
    run_dir = Path(run_dir or spec.run_dir)
    n_proc = data_parallel_processes()
    if n_proc > 1:
        return relaunch_data_parallel(spec, run_dir, n_proc)
    return runner.run_job(lambda files: _run(spec, run_dir, files), run_dir)


# --- data parallel ------------------------------------------------------------------------
# A job given several GPUs (the backend sets CUDA_VISIBLE_DEVICES) trains data-parallel: the plain
# `python -m trainer run` process re-launches itself under `accelerate launch`, one process per
# GPU, so every backend (local, Slurm, HTCondor) gets DDP without knowing about accelerate.
DP_ENV = "ARCCTL_DATA_PARALLEL"  # force the process count (e.g. 2 on CPU to test gloo DDP); 1 = off
DP_CHILD_ENV = "ARCCTL_DATA_PARALLEL_CHILD"  # set for the launched workers: never relaunch again


def data_parallel_processes() -> int:
    if os.environ.get(DP_CHILD_ENV) or os.environ.get("WORLD_SIZE") or os.environ.get("LOCAL_RANK"):
        return 1  # already a worker of a distributed launch
    forced = os.environ.get(DP_ENV)
    if forced:
        if not forced.isdigit() or int(forced) < 1:
            raise SpecError(f"{DP_ENV}={forced!r}: expected a positive integer")
        return int(forced)
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 1


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def relaunch_data_parallel(spec: Any, run_dir: Path, n_proc: int) -> int:
    """Run this job with n_proc processes (`accelerate launch` on GPUs, torchrun on CPUs); forward stop signals to them
    (preemption must still save a checkpoint) and return their exit code."""
    import signal
    import subprocess

    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / rundir.SPEC).exists():
        spec.write(run_dir)
    on_gpu = data_parallel_gpu()
    if on_gpu:
        bf16 = model_loading.resolve_bf16(spec.typed_params().bf16)
        cmd = [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_processes",
            str(n_proc),
            "--num_machines",
            "1",
            "--main_process_port",
            str(_free_port()),
            "--mixed_precision",
            "bf16" if bf16 else "no",
        ]
    else:
        # accelerate runs a single process for --cpu; torchrun gives real gloo DDP on CPUs
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            str(n_proc),
            "--master_port",
            str(_free_port()),
        ]
    cmd += ["-m", "trainer", "run", str(run_dir)]
    print(
        f"trainer: data parallel over {n_proc} {'GPUs' if on_gpu else 'CPU processes'}: {' '.join(cmd)}",
        file=sys.stderr,
        flush=True,
    )
    env = dict(os.environ, **{DP_CHILD_ENV: "1"})
    if not on_gpu:
        env["ACCELERATE_USE_CPU"] = "true"  # else Trainer sees no device to distribute over (world size 1)
    child = subprocess.Popen(
        cmd, env=env
    )  # the job wrapper reaches the workers even in their own sessions (it is their subreaper)

    def forward(signum, frame):
        # to the training workers, not to the launcher: SIGUSR1 would kill the launcher outright,
        # and the workers must finish the step and save before anything exits
        for pid in processes.children(child.pid) or [child.pid]:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    previous = {sig: signal.signal(sig, forward) for sig in lifecycle.STOP_SIGNALS}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def data_parallel_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


# --- examples -----------------------------------------------------------------------------


def completion_for(program: str) -> str:
    """The completion that, appended to the prompt's pre-filled opening, gives the whole program.

    The opening already contains the import header and `# concepts:`; a program starting with the
    same header continues after it, any other program follows a blank concepts line."""
    from trainer.extract import open_block_code
    from trainer.prompts import ASSISTANT_PREFIX

    head = open_block_code(ASSISTANT_PREFIX) or ""
    body = program.strip("\n")
    if head and body.startswith(head):
        rest = body[len(head) :]
    else:
        rest = "\n" + body if head else body
    return rest.rstrip() + "\n```"


def load_program_tasks(path: str, max_tasks: int | None) -> list[tuple[Any, str]]:
    """(Task, program) pairs from a file of tasks with known programs; errors name file and task."""
    from jobs.arc_tasks import read_scanned
    from jobs.rundir import loads
    from trainer.data import DatasetError, task_from_dict

    p = Path(path)
    if not p.is_file():
        raise SpecError(f"dataset {path}: file not found (SFT needs tasks with programs, or synthetic_tasks > 0)")
    # as for task files: a 10^4-wide row is refused before json builds it
    text = read_scanned(p).decode("utf-8", errors="replace")
    items: list[tuple[str, Any]] = []
    try:
        # jobs.rundir.loads: json.loads raised RecursionError (a traceback) on 100k `[`
        if p.suffix == ".jsonl":
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    obj = loads(line)
                    if not isinstance(obj, dict):  # obj.get raised AttributeError
                        raise DatasetError(f"{path}: line {n}: expected an object, got {type(obj).__name__}")
                    items.append((str(obj.get("task_id", f"line{n}")), obj))
        else:
            raw = loads(text)
            if not isinstance(raw, dict):
                raise DatasetError(f"{path}: expected an object mapping task id to task")
            items = [(str(k), v) for k, v in raw.items()]
    except ValueError as e:
        raise DatasetError(f"{path}: not valid JSON ({e})") from None
    out = []
    for tid, obj in items:
        prog = next((obj[k] for k in PROGRAM_KEYS if isinstance(obj, dict) and isinstance(obj.get(k), str)), None)
        if prog is None:
            raise DatasetError(f"{path}: task {tid}: no program (one of the keys {', '.join(PROGRAM_KEYS)})")
        out.append((task_from_dict(tid, obj, f"{path}: "), prog))
    if not out:
        raise DatasetError(f"{path}: contains no tasks")
    return out[:max_tasks] if max_tasks else out


def task_program_pairs(p: Any) -> list[tuple[Any, str]]:
    n = p.synthetic_tasks
    name = p.dataset.strip()
    if n == 0 and (name == "synthetic" or name.startswith("synthetic:")):
        from trainer.data import DEFAULT_SYNTHETIC

        arg = name.partition(":")[2]
        if arg and not (arg.isascii() and arg.isdigit()):  # "²".isdigit(): int() raised
            raise SpecError(f"dataset {name}: expected synthetic:N with N a positive integer")
        n = int(arg) if arg else DEFAULT_SYNTHETIC
    from trainer.data import MAX_SYNTHETIC

    if n > MAX_SYNTHETIC:
        raise SpecError(f"synthetic tasks: {n} asked, at most {MAX_SYNTHETIC}")
    if n > 0:
        from trainer.synthetic import generate_tasks

        pairs = list(generate_tasks(n, seed=p.seed))
        return pairs[: p.max_tasks] if p.max_tasks else pairs
    from trainer.data import BUILTIN

    if name in BUILTIN:
        raise SpecError(
            f"dataset {name}: built-in ARC sets have no solution programs to imitate; "
            'set synthetic_tasks > 0 (or dataset = "synthetic:N") or give a file of '
            "tasks with programs"
        )
    return load_program_tasks(name, p.max_tasks)


def build_examples(pairs: list[tuple[Any, str]], p: Any, tokenizer: Any, warn=None) -> list[dict[str, str]]:
    """One prompt-completion example per (task, test input). No augmentation: a program solves
    its task in the original orientation and colours only, so an augmented prompt would be paired
    with a wrong program (variety comes from the synthetic generator instead)."""
    from trainer.encoders import get_encoder
    from trainer.prompts import build_prompt_text

    encoder = get_encoder(p.grid_encoder)
    out, too_long = [], 0
    for task, program in pairs:
        completion = completion_for(program)
        for i in range(len(task.test)):
            prompt = build_prompt_text(task, encoder, tokenizer, test_index=i)
            n = len(tokenizer(prompt + completion, add_special_tokens=False)["input_ids"])
            if n + 1 > p.max_seq_length:  # + EOS
                too_long += 1
                continue
            out.append({"prompt": prompt, "completion": completion})
    if too_long and warn:
        warn(f"{too_long} examples dropped: longer than max_seq_length={p.max_seq_length} tokens")
    if not out:
        raise SpecError(f"no SFT example fits max_seq_length={p.max_seq_length}")
    random.Random(p.seed).shuffle(out)
    return out


# --- trainer ------------------------------------------------------------------------------


def sft_config(p: Any, run_dir: Path, bf16: bool, has_eval: bool):
    from trl import SFTConfig

    return SFTConfig(**trl_args.sft_args(p, run_dir, bf16, has_eval))


def tokens_per_second_callback():
    """Adds `tokens_per_second` (from TRL's cumulative `num_tokens`, all processes) to each
    training log line: the rate since the previous line."""
    import time

    from transformers import TrainerCallback

    class _TokensPerSecond(TrainerCallback):
        def __init__(self):
            self._last = None

        def on_log(self, args, state, control, logs=None, **kw):
            if logs is None or "loss" not in logs:
                return
            if "num_tokens" not in logs:
                return
            now, seen = time.perf_counter(), float(logs["num_tokens"])
            if self._last is not None and now > self._last[0]:
                logs["tokens_per_second"] = (seen - self._last[1]) / (now - self._last[0])
            self._last = (now, seen)

    return _TokensPerSecond()


def _run(spec: Any, run_dir: Path, files: RunFiles) -> int:
    p = spec.typed_params()
    model_loading.check_optional_backends(p)
    warn = lifecycle.prepare_run_dir(spec, run_dir, files)

    resume = lifecycle.resolve_resume(spec, run_dir, warn)
    lifecycle.restart_aside(spec, run_dir, files, resume)
    pairs = task_program_pairs(p)
    model, tokenizer, peft_config = model_loading.load_for_training(p)
    if not p.use_lora:
        if p.adapter_path:
            raise SpecError(
                "use_lora=false (full fine-tuning) cannot continue from adapter_path; "
                "merge the adapter into a model folder and pass it as model_path"
            )
        peft_config = None  # every weight trains; `final/` is then a whole model folder
    bf16 = model_loading.resolve_bf16(p.bf16)
    examples = build_examples(pairs, p, tokenizer, warn)
    n_eval = int(len(examples) * p.eval_fraction)
    train_ex, eval_ex = examples[n_eval:], examples[:n_eval]

    from datasets import Dataset
    from trl import SFTTrainer

    telemetry = TelemetryCallback(files)
    signal_stop = lifecycle.SignalStop()
    # tokens/s must see the logs before telemetry writes them: it goes first
    callbacks = [tokens_per_second_callback(), telemetry, signal_stop]
    retention = make_retention_callback(spec, run_dir)
    if retention is not None:
        callbacks.append(retention)

    class ArcSFTTrainer(lifecycle.KeepsRunLearningRate, SFTTrainer):
        pass

    trainer = ArcSFTTrainer(
        model=model,
        args=sft_config(p, run_dir, bf16, has_eval=bool(eval_ex)),
        train_dataset=Dataset.from_list(train_ex),
        eval_dataset=Dataset.from_list(eval_ex) if eval_ex else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    trainer.arc_learning_rate = p.learning_rate  # a fork's own rate, not its checkpoint's
    replace_printer(trainer)
    model_loading.check_checkpoint_fits(trainer.model, resume)
    files.started(
        step=rundir.checkpoint_step(resume) or 0,
        resume_from=resume,
        examples=len(train_ex),
        eval_examples=len(eval_ex),
        tasks=len(pairs),
        bf16=bf16,
        kind="sft",
        world_size=trainer.args.world_size,
        global_batch=trainer.args.world_size * p.per_device_train_batch_size * p.gradient_accumulation_steps,
    )
    try:
        with wandb_run(spec, run_dir, files.enabled, warn, trainer):
            trainer.train(resume_from_checkpoint=resume)
    finally:
        signal_stop.restore()
    if not signal_stop.received:
        # the final weights, loadable as adapter_path/model_path by eval and GRPO
        trainer.save_model(str(run_dir / "final"))
        tokenizer.save_pretrained(str(run_dir / "final"))
    files.event(
        rundir.EV_STOPPED,
        reason="signal" if signal_stop.received else "completed",
        signal=signal_stop.received,
        step=trainer.state.global_step,
        **telemetry.summary,
    )
    return 0
