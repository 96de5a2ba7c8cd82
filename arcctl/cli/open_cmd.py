"""`arcctl open RUN`: the dashboard straight on one run (a run dir, `host:/path`, or a registry job)."""
from __future__ import annotations

import typer

from arcctl.cli.errors import user_errors


def resolve_target(run: str) -> tuple[str, str | None]:
    """RUN -> (run_dir, host or None), checked to exist (over SFTP for remote runs)."""
    from jobs.rundir import LocalFS

    from arcctl.cli.health_cmd import _REMOTE, resolve_run

    run_dir, fs = resolve_run(run)  # raises UserError naming the run/host
    if isinstance(fs, LocalFS):
        return run_dir, None
    m = _REMOTE.match(run)
    if m:
        return run_dir, m["host"]
    from jobs.registry import Registry

    return run_dir, Registry().get(run).host


def register(app: typer.Typer) -> None:
    @app.command("open")
    def open_(
        run: str = typer.Argument(..., help="run dir, host:/path/to/run, or job id / id prefix / name"),
        readonly: bool = typer.Option(False, "--readonly", help="disable every action that changes state"),
    ) -> None:
        """Open the dashboard on one run (local or remote over SFTP)."""
        with user_errors():
            run_dir, host = resolve_target(run)
        from arcctl.tui.app import run_dashboard

        run_dashboard(readonly=readonly, run_dir=run_dir, host=host)
