"""`arcctl doctor PROFILE`: one ✓/✗ line per check of where the profile launches jobs (jobs.doctor),
each ✗ with its fix. Exit 0 when nothing failed, 1 when something did, 2 for a bad profile."""

from __future__ import annotations

import typer

from arcctl.cli.errors import user_errors
from arcctl.cli.numbers import seconds_option
from arcctl.cli.terminal_text import block


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor_cmd(
        profile: str = typer.Argument(..., help="profile name (see `arcctl templates`) or a .toml file"),
        json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
        timeout: float = seconds_option(30.0, "--timeout", 0.1, 3600, "seconds for each command on the host"),
    ) -> None:
        """Check that a profile can run a first job: ssh, scheduler, runs_root, Python + trainer, GPUs, a dry-run submit."""
        with user_errors():
            from jobs.doctor import as_json, diagnose

            checks = diagnose(profile, timeout=timeout)
        if json_out:
            typer.echo(as_json(checks))
        else:
            for c in checks:
                typer.echo(block(c.line()))  # a check quotes what the host answered
        if any(c.ok is False for c in checks):
            raise typer.Exit(1)
