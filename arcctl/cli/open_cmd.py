"""`arcctl open RUN`: the dashboard straight on one run (a run dir, `host:/path`, or a registry job)."""

from __future__ import annotations

import threading
from typing import Callable

import typer

from arcctl.cli.errors import user_errors
from arcctl.cli.resolve import RunTarget, resolve_run


def resolve_in_background(run: str) -> Callable[[], RunTarget]:
    """Start resolve_run(RUN) in a thread and return the call that waits for it (raising what it
    raised). For `host:/path` that is importing paramiko, logging in and checking the path, which
    then overlap with importing the dashboard instead of coming before it. A daemon thread: Ctrl-C
    while a host does not answer ends the command at once."""
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["target"] = resolve_run(run)
        except BaseException as e:  # noqa: BLE001 - handed to the waiting caller as it was
            box["error"] = e

    thread = threading.Thread(target=work, daemon=True, name="resolve-run")
    thread.start()

    def result() -> RunTarget:
        thread.join()
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box["target"]  # type: ignore[return-value]

    return result


def register(app: typer.Typer) -> None:
    @app.command("open")
    def open_(
        run: str = typer.Argument(..., help="run dir, host:/path/to/run, or job id / id prefix / name"),
        readonly: bool = typer.Option(False, "--readonly", help="disable every action that changes state"),
    ) -> None:
        """Open the dashboard on one run (local or remote over SFTP)."""
        resolved = resolve_in_background(run)
        from arcctl.tui.app import run_dashboard  # imported while the host is reached

        with user_errors():
            target = resolved()
        run_dashboard(readonly=readonly, run_dir=target.run_dir, host=target.host)
