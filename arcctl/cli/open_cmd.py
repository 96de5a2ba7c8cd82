"""`arcctl open RUN`: the dashboard straight on one run (a run dir, `host:/path`, or a registry job)."""

from __future__ import annotations

import typer

from arcctl.cli.errors import user_errors
from arcctl.cli.resolve import resolve_run


def register(app: typer.Typer) -> None:
    @app.command("open")
    def open_(
        run: str = typer.Argument(..., help="run dir, host:/path/to/run, or job id / id prefix / name"),
        readonly: bool = typer.Option(False, "--readonly", help="disable every action that changes state"),
    ) -> None:
        """Open the dashboard on one run (local or remote over SFTP)."""
        with user_errors():
            target = resolve_run(run)
        from arcctl.tui.app import run_dashboard

        run_dashboard(readonly=readonly, run_dir=target.run_dir, host=target.host)
