"""`arcctl health RUN [--json]`: collapse diagnosis of one run, with the checkpoint to go back to."""

from __future__ import annotations

import json

import typer

from arcctl.cli.errors import UserError, user_errors
from arcctl.cli.resolve import resolve_run
from arcctl.cli.terminal_text import block, shown

EXIT_HEALTHY, EXIT_COLLAPSE = 0, 1  # "could not read" is 2, the exit code of every user error
_EXIT_HELP = """Exit code: 0 healthy (or only 'watch' signs); 1 warning or critical collapse signs;
2 the run could not be read (bad path, a folder that is no run dir, unknown job, unreachable host,
damaged spec.json), with
one error line on stderr and no report."""


def format_report(report) -> str:
    """The report as text. Ids, task ids, snippets and messages come from the run dir (written on
    another host, partly by the model): each is cut short and its control characters written out."""
    from jobs.health import severity_level

    lines = [
        f"run: {report.run_dir}" + (f"  (step {report.step})" if report.step is not None else "  (no metrics yet)")
    ]
    status = report.status.upper()
    if report.first_warning_step is not None:
        status += f"  (first warning at step {report.first_warning_step})"
    lines.append(f"status: {status}")
    ck = report.healthy_checkpoint
    if ck is not None:
        lines.append(f"healthy checkpoint: {ck.name} (step {ck.step})  {ck.path}")
    elif report.first_warning_step is not None:
        lines.append("healthy checkpoint: none saved before the first warning")
    else:
        lines.append("healthy checkpoint: none saved yet")
    if report.alerts:
        lines.append("alerts:")
    for a in report.alerts:
        reached = " ".join(
            f"{sev}@{step}" for sev, step in sorted(a.steps.items(), key=lambda kv: severity_level(kv[0]))
        )
        lines.append(f"  {a.severity.upper():8s} {a.rule:16s} steps {a.first_step}..{a.last_step}  {reached}")
        lines.append(f"           {shown(a.message)}")
        for ex in (a.evidence.get("examples") or [])[:2]:
            where = f"completion {shown(ex.get('id'), 100)} (step {shown(ex.get('step'), 40)}, task {shown(ex.get('task_id'), 100)})"
            snippet = ex.get("snippet")
            lines.append(f"           e.g. {where}: {(snippet if isinstance(snippet, str) else '')[:100]!r}")
    for note in report.notes:
        lines.append(f"note: {note}")
    return block("\n".join(lines))


def register(app: typer.Typer) -> None:
    @app.command(
        "health",
        help="Diagnose training collapse in a run: truncation, repetition, gibberish, "
        "entropy, KL/grad-norm spikes, zero-std groups, reward fall; names the newest "
        "checkpoint saved before the first warning.\n\n" + _EXIT_HELP,
    )
    def health(
        run: str = typer.Argument(..., help="run dir path, HOST:/path/to/run, or a registry job id/name"),
        as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    ) -> None:
        from jobs.health import WARNING, diagnose, severity_level
        from jobs.health.report import UnreadableRun

        with user_errors():
            target = resolve_run(run)
            run_dir, fs = target.run_dir, target.fs
            try:
                report = diagnose(run_dir, fs, strict=True)
            except UnreadableRun as e:  # the message names the folder; a job id or host goes in front
                raise UserError(str(e) if run.rstrip("/") == run_dir.rstrip("/") else f"{run}: {e}") from None
            except OSError as e:
                raise UserError(f"{run}: cannot read run dir {run_dir}: {e}") from None
            except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as e:
                # files written by others (a hand-edited spec.json, a foreign writer): whatever
                # they hold, the answer is "could not read", never a traceback that exits 1
                raise UserError(f"{run}: cannot read run dir {run_dir}: {type(e).__name__}: {e}") from None
        if as_json:
            typer.echo(json.dumps(report.to_dict(), indent=2))
        else:
            typer.echo(format_report(report))
        raise typer.Exit(EXIT_COLLAPSE if severity_level(report.status) >= WARNING else EXIT_HEALTHY)
