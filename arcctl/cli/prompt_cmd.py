"""`arcctl prompt TEMPLATE -p ... [--task ID]`: the exact prompt a job would train or evaluate on.

The spec is resolved here like `render` does (so a bad parameter is the same one-line error);
the prompt itself is built by the trainer (`python -m trainer.prompts --spec`) in a subprocess,
because it needs the model's tokenizer (transformers), which the console never imports."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

import typer

from arcctl.cli.errors import UserError, user_errors
from arcctl.cli.terminal_text import block

REPO = Path(__file__).resolve().parents[2]


def register(app: typer.Typer) -> None:
    @app.command("prompt")
    def prompt_cmd(
        template: str = typer.Argument(..., help="template name (see `arcctl templates`) or a .toml file"),
        param: List[str] = typer.Option([], "-p", "--param", help="KEY=VALUE override (as in render/submit)"),
        task: Optional[str] = typer.Option(None, "--task", help="task id (default: the first task of the job)"),
    ) -> None:
        """Print the rendered prompt of the job's first (or given) task and its token count."""
        with user_errors():
            from jobs.submit import build_specs

            if task is not None and not task.strip():
                raise UserError("--task: empty task id (leave it out for the job's first task)")
            specs = build_specs(template, param, "local")
            if len(specs) > 1:
                raise UserError(f"{len(specs)} sweep points: give one value per parameter to see a prompt")
            spec = specs[0]
            with tempfile.TemporaryDirectory(prefix="arcctl-prompt-") as tmp:
                path = Path(tmp) / "spec.json"
                path.write_text(spec.to_json())
                env = dict(os.environ)
                # the trainer package next to this console (a source checkout) wins over another install
                env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
                cmd = [sys.executable, "-m", "trainer.prompts", "--spec", str(path)] + (
                    ["--task", task] if task is not None else []
                )
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
                msg = lines[-1] if lines else f"exit code {proc.returncode}"
                raise UserError(msg.removeprefix("error: "))
            # the prompt holds task files' ids and, for a refine job, a model's earlier program: every
            # control character but the newlines and tabs of the text is written out (\x1b)
            typer.echo(block(proc.stdout, limit=1_000_000, keep="\t"), nl=False)
