"""The `arcctl` entry point. Each command group lives in its own module with a `register(app)`
function, so commands stay small and independent; imports of heavy modules stay inside commands."""

from __future__ import annotations

import importlib
import inspect
import sys

import typer

app = typer.Typer(
    name="arcctl",
    help="Launch, watch and rescue GRPO/SFT training of ARC code-writing LLMs.",
    no_args_is_help=False,
    add_completion=True,  # --install-completion / --show-completion (arcctl/cli/completion.py)
    pretty_exceptions_enable=False,
)

# One module per command group (arcctl/cli/<name>.py), each defining register(app).
COMMAND_MODULES = [
    "jobs_cmds",  # templates, render, submit, ls, show, cancel, resume, fork
    "tail_cmd",  # tail
    "logs_cmd",  # logs (stdout/stderr of a run)
    "health_cmd",  # health
    "remote_cmds",  # fetch (copy a checkpoint back), hosts
    "eval_cmds",  # compare, submission build/validate
    "demo_cmd",  # demo
    "open_cmd",  # open (dashboard on one run)
    "doctor_cmd",  # doctor (is a profile ready for a first job?)
    "refine_cmd",  # refine-data (eval predictions -> refine file)
    "prompt_cmd",  # prompt (print the rendered prompt and its token count)
    "wandb_cmd",  # wandb-sync (upload a run's offline W&B run)
]

for _name in COMMAND_MODULES:
    importlib.import_module(f"arcctl.cli.{_name}").register(app)


def _one_line_summaries(commands: list) -> None:
    """The command list shows each docstring's first paragraph as written, line breaks included;
    give it that paragraph as one line so rich wraps it to the terminal instead."""
    for info in commands:
        doc = inspect.getdoc(info.callback) if info.callback else None
        if info.short_help is None and info.help is None and doc:
            info.short_help = " ".join(doc.split("\n\n")[0].split())


_one_line_summaries(app.registered_commands)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    readonly: bool = typer.Option(False, "--readonly", help="dashboard: disable every action that changes state"),
) -> None:
    """Without a command: open the dashboard."""
    if ctx.invoked_subcommand is None:
        from arcctl.tui.app import run_dashboard

        run_dashboard(readonly=readonly)


def run() -> None:
    try:
        # the completion variable is _ARCCTL_COMPLETE however it was started; not standalone: click's
        # own errors come here, so what they quote of the command line is written out (below)
        code = app(prog_name="arcctl", standalone_mode=False)
    except KeyboardInterrupt:
        sys.exit(130)
    except typer.TyperException as e:  # click's errors (UsageError, NoSuchOption, ...)
        sys.exit(_usage_error(e))
    except typer.Abort:
        typer.echo("Aborted!", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)


def _usage_error(e: typer.TyperException) -> int:
    """click's usage box quoted the command line as typed (`fork RUN $'\\e]0;x\\a'`: "Got unexpected
    extra argument", "No such command"): escape sequences reached the terminal and 10,000
    characters filled a screen of box. One line instead, written out and cut like every error."""
    from arcctl.cli.errors import fail

    if not e.format_message().strip():  # a group called without a command: its help is already out
        return e.exit_code
    ctx = getattr(e, "ctx", None)
    where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
    fail(f"{e.format_message()}{where}")
    return e.exit_code


if __name__ == "__main__":
    run()
