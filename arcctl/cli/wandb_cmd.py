"""`arcctl wandb-sync RUN`: upload a run's offline W&B run (a job on a host without network, or
without a `wandb login`, logs offline into <run_dir>/wandb).

On this machine, with wandb installed, it runs `wandb sync` on the run's offline folders (all
starts of the job: one W&B run; and those of the rollback children it trained on in); for a run on
another host, or with --print, it prints the exact command instead. RUN is resolved like every
other RUN argument."""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
import sys
from typing import Annotated

import typer

from arcctl.cli.completion import complete_job
from arcctl.cli.errors import UserError, user_errors
from arcctl.cli.terminal_text import shown


def _command_line(cmd: list[str], host: str | None) -> str:
    line = shlex.join(cmd)
    return f"ssh {shlex.quote(host)} {shlex.quote(line)}" if host else line


Run = Annotated[
    str, typer.Argument(help="job id, prefix, name, run dir or host:/path/to/run", autocompletion=complete_job)
]
PrintOnly = Annotated[bool, typer.Option("--print", help="print the `wandb sync` command, do not run it")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="wandb sync --dry-run: say what would be uploaded")]


def register(app: typer.Typer) -> None:
    @app.command("wandb-sync")
    def wandb_sync_cmd(run: Run, print_only: PrintOnly = False, dry_run: DryRun = False) -> None:
        """Upload a run's offline Weights & Biases run (or print the `wandb sync` command)."""
        with user_errors():
            from arcctl.cli.resolve import resolve_run
            from jobs import wandb_files

            from jobs.lineage import rollback_chain

            target = resolve_run(run)
            # a guard rollback trained on in a child run dir, a W&B run of its own: those too
            chain = rollback_chain(target.run_dir, target.fs)
            records = [r for d in chain if (r := wandb_files.read_run(d, target.fs)) is not None]
            offline = [o for d in chain for o in wandb_files.offline_runs(d, target.fs)]
            if not offline:
                if not records:
                    raise UserError(
                        f"{run}: no W&B run in {target.run_dir} (it runs with wandb = false, or has not started yet)"
                    )
                typer.echo(
                    shown(
                        f"{run}: W&B run {', '.join(r.id for r in records)} has no offline data in "
                        f"{target.run_dir}: it logged online (or W&B was disabled), nothing to sync",
                        4000,
                    )
                )
                return
            cmd = wandb_files.sync_command(offline, dry_run=dry_run)
            if print_only or target.host is not None or importlib.util.find_spec("wandb") is None:
                typer.echo(shown(_command_line(cmd, target.host), 100_000))
                if not print_only and target.host is None:
                    typer.echo(
                        "(wandb is not installed here: pip install 'arcctl[wandb]', or run the command where it is)",
                        err=True,
                    )
                return
            typer.echo(shown(f"running: {_command_line(cmd, None)}", 100_000), err=True)
            # the wandb of this interpreter, whatever PATH holds
            code = subprocess.call([sys.executable, "-m", "wandb", *cmd[1:]])
            if code:
                raise typer.Exit(code)
