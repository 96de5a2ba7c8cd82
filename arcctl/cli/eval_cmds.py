"""`arcctl compare` (eval metrics side by side) and `arcctl submission build|validate` (Kaggle).

Read-only commands: only jobs.* pure-python modules and rich are imported, lazily."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from arcctl.cli.progress_out import progress
from arcctl.cli.errors import fail, user_errors
from arcctl.cli.local_runs import local_path
from arcctl.cli.numbers import count_option
from arcctl.cli.terminal_text import block, shown

submission_app = typer.Typer(help="Build and validate Kaggle ARC submissions.", no_args_is_help=True)


def compare(
    targets: Optional[List[str]] = typer.Argument(
        None,
        help="eval run dirs (or their jobs), checkpoint dirs or metrics.json files; or HER runs (epochs to solve each target)",
    ),
    as_json: bool = typer.Option(False, "--json", help="print the table data as JSON"),
    markdown: bool = typer.Option(False, "--markdown", help="print a Markdown table (best in **bold**)"),
    label: Optional[List[str]] = typer.Option(None, "--label", "-l", help="row names, in order"),
    plot: Optional[str] = typer.Option(None, "--plot", help="instead: this training metric of the RUNs on shared axes"),
    width: Optional[int] = count_option(
        None, "--width", lo=40, hi=1000, help="--plot: characters (default: the terminal's)"
    ),
    height: int = count_option(20, "--height", lo=6, hi=200, help="--plot: lines"),
    match: Optional[str] = typer.Option(None, "--match", help="--plot: also every registry job whose name matches"),
    group: Optional[str] = typer.Option(
        None, "--group", help="--plot: also every registry job of this sweep group (params.wandb_group)"
    ),
) -> None:
    """Evaluation metrics side by side; the best value per column (per dataset) in bold.
    With --plot METRIC: that training metric of every RUN (run dir, host:/path or job) overlaid,
    and of the registry jobs --match REGEX / --group SWEEP_GROUP choose."""
    from jobs.compare import build_her_table, build_table, her_runs

    targets = list(targets or [])
    for option, value in (("--plot", plot), ("--match", match), ("--group", group)):
        if value is not None and not value.strip():  # an unset shell variable: never "no chart" or "every job"
            raise fail(f"{option} '': empty; give {'a metric (e.g. reward)' if option == '--plot' else 'a value'}")
    if plot:
        from arcctl.cli.compare_plot import plot_runs

        if as_json or markdown:  # a chart has no table to print: it would be silently dropped
            raise fail(
                f"{'--json' if as_json else '--markdown'} prints the eval table; --plot draws a chart (choose one)"
            )

        with user_errors():
            plot_runs(targets, plot, width, height, match=match, group=group)
        return
    if match is not None or group is not None:
        raise fail("--match and --group choose runs for --plot METRIC (eval tables take their run dirs)")
    if not targets:
        raise fail("compare: give the eval run dirs (or --plot METRIC with RUNs, --match or --group)")
    with user_errors():
        targets = [local_path(t) for t in targets]  # a path, or a job whose run dir is here
        if her_runs(targets):  # HER run dirs: epochs to solve each target
            her = build_her_table(targets, labels=label)
            # task ids and labels come from the runs' files: shown cut short, control characters written out
            typer.echo(json.dumps(her.to_json(), indent=2) if as_json else block(her.to_markdown()))
            notice = her.invalid_notice()  # the same values the JSON lists under "invalid"
            if notice:
                typer.echo(shown(notice, 2000), err=True)
            return
        table = build_table(targets, labels=label)
    if as_json:
        typer.echo(json.dumps(table.to_json(), indent=2))
        return
    if markdown:
        typer.echo(block(table.to_markdown()))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    def cell(value: str, style: str = "") -> Text:
        """A label, data set or column name read from a run dir: literal text (never rich markup),
        cut short, control characters written out."""
        text = Text()
        text.append(shown(value, 200), style=style)  # styled text only, not the cell's padding
        return text

    t = Table(show_lines=False, header_style="bold")
    t.add_column("experiment")
    t.add_column("dataset")
    for c in table.columns:
        t.add_column(cell(c), justify="right", no_wrap=True, min_width=len(shown(c, 200)))
    for i, r in enumerate(table.rows):
        cells = [cell(r.label), cell(r.dataset)]
        for c in table.columns:
            cells.append(cell(table.cell(i, c), "bold" if i in table.best.get(c, set()) else ""))
        t.add_row(*cells)
    label_w = max([len(shown(r.label, 200)) for r in table.rows] + [10])
    label_w += max([len(shown(r.dataset, 200)) for r in table.rows] + [7])
    # wide enough that no header is cut: the table is meant to be read (or pasted) whole
    Console(width=label_w + sum(max(len(shown(c, 200)), 8) + 3 for c in table.columns) + 8).print(t)
    rolled = sorted({Path(r.rollback_chain[0]).name for r in table.rows if r.rollback_chain})
    if rolled:  # the row of a rolled-back run is its outcome: the newest rollback child's metrics
        typer.echo(
            f"→: {shown(', '.join(rolled))} rolled back by the collapse guard; the row holds the newest rollback child's metrics"
        )
    ks = sorted({k for r in table.rows for k in r.pass_at_k}, key=int)
    if ks:
        p = Table(title="pass@k (unbiased, from n predictions per task)", header_style="bold")
        p.add_column("experiment")
        p.add_column("dataset")
        for k in ks:
            p.add_column(f"pass@{k}", justify="right")
        for r in table.rows:
            p.add_row(
                cell(r.label),
                cell(r.dataset),
                *(f"{100 * r.pass_at_k[k]:.2f}%" if k in r.pass_at_k else "-" for k in ks),
            )
        Console(width=200).print(p)


@submission_app.command("build")
def submission_build(
    eval_run: str = typer.Argument(
        ..., help="eval run dir or its job (with eval/metrics.json and eval/predictions.jsonl)"
    ),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="default: <run>/submission.json"),
) -> None:
    """Rank predictions per test input (train correctness, votes, shorter program) into two attempts."""
    from jobs.kaggle_submission import (
        attempts_summary,
        build_from_eval_run,
        eval_files,
        validate_submission,
        write_submission,
    )

    with user_errors():
        eval_run = local_path(eval_run)  # a path, or a job whose run dir is here
    with user_errors(), progress("submission build", unit="tasks") as advance:
        sub = build_from_eval_run(eval_run)
        advance(len(sub))
        # The build must satisfy our own validator; a failure here is a bug, so say so loudly.
        problems = validate_submission(sub, {k: len(v) for k, v in sub.items()})
        if problems:
            raise fail("built submission is invalid (bug): " + problems[0])
        reads = (*eval_files(eval_run), Path(eval_run) / "spec.json")
        path = write_submission(sub, output or Path(eval_run) / "submission.json", reads)
    c = attempts_summary(sub)
    typer.echo(f"wrote {path}: {len(sub)} tasks, {c['predicted']} predicted attempts, {c['placeholder']} placeholders")


@submission_app.command("validate")
def submission_validate(
    file: Path = typer.Argument(..., help="submission.json"),
    dataset: str = typer.Option(..., "--dataset", "-d", help="challenges file or built-in name (arc1/eval, ...)"),
) -> None:
    """Check every task, test entry, attempt key and grid; name each violation. Exit 1 if any."""
    from jobs.kaggle_submission import validate_file

    with user_errors():
        problems = validate_file(file, dataset)
    if problems:
        for p in problems:
            typer.echo(shown(p, 2000))  # a problem may quote a task id of the file
        typer.echo(f"{file}: INVALID ({len(problems)} problem{'s' if len(problems) != 1 else ''})", err=True)
        raise typer.Exit(1)
    typer.echo(f"{file}: valid for {dataset}")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
    app.add_typer(submission_app, name="submission")
