"""`arcctl compare RUN... --plot METRIC`: training metrics of several runs on shared axes in the
terminal, the same picture as the dashboard's compare screen (forks drawn through their parents,
runs the guard rolled back through their rollback children, checkpoint / alert / fork / rollback
markers, legends naming the parameters that differ)."""

from __future__ import annotations

from typing import Any

import typer


def chosen_jobs(match: str | None, group: str | None) -> list[str]:
    """The ids of the registry jobs --match / --group choose (oldest first)."""
    from arcctl.cli.errors import UserError
    from jobs import config
    from jobs.compare_select import select_jobs
    from jobs.registry import Registry

    if not config.registry_path().exists():  # a read-only command never creates a registry
        raise UserError(f"--match/--group: no registry at {config.registry_path()}")
    reg = Registry()
    try:
        return [j.id for j in select_jobs(reg.list(with_spec=True), match, group)]
    finally:
        reg.close()


def plot_runs(
    targets: list[str],
    metric: str,
    width: int | None = None,
    height: int = 20,
    smoothing: float = 0.0,
    match: str | None = None,
    group: str | None = None,
) -> None:
    from rich.console import Console

    from arcctl.cli.errors import UserError
    from arcctl.cli.resolve import resolve_run
    from arcctl.cli.terminal_text import one_line
    from arcctl.tui.widgets.braille import Picture, legend, render
    from arcctl.tui.widgets.overlay_chart import MARKS_KEY, ROLLBACK_KEY, link_steps, series, vmarks
    from jobs.overlay import overlay
    from jobs.runview import RunView

    if match is not None or group is not None:
        targets = [*targets, *(j for j in chosen_jobs(match, group) if j not in targets)]
    if not targets:
        raise UserError("--plot: give the RUNs to draw, or --match REGEX / --group NAME")
    views: list[Any] = []
    drawn: set[tuple[str | None, str]] = set()
    for t in targets:
        target = resolve_run(t)
        if (target.host, target.run_dir) in drawn:  # named and also chosen by --match/--group
            continue
        drawn.add((target.host, target.run_dir))
        run_dir, fs = target.run_dir, target.fs
        v = RunView(run_dir, fs)
        v.refresh(completion_bytes=0)
        views.append(v)
    opened: dict[str, Any] = {}

    def view_for(run_dir: str) -> Any:
        if run_dir not in opened:
            fs = views[0].fs
            opened[run_dir] = RunView(run_dir, fs)
            opened[run_dir].refresh(completion_bytes=0)
        return opened[run_dir]

    width = width or max(40, min(Console().width, 200))
    console = Console(highlight=False, soft_wrap=False, width=width)  # colours only on a terminal
    lines, marks = overlay(views, metric, max(10, width - 10), smoothing, view_for)
    if not any(ln.xs for ln in lines):
        known = sorted({n for v in views for n in v.metrics.names()})
        raise UserError(
            f"--plot {metric}: no run has this metric (they have: {', '.join(known[:12]) or 'no metrics yet'})"
        )
    forks, rollbacks = link_steps(lines)
    pic = Picture(
        width,
        height,
        series(lines),
        vmarks(marks, width, forks, rollbacks),
        f"{one_line(metric)}   {MARKS_KEY}" + (ROLLBACK_KEY if rollbacks else ""),
    )
    console.print(render(pic), crop=True)
    console.print(legend(pic), crop=True)
    if rollbacks:
        typer.echo(
            f"(rolled back at step {', '.join(f'{s:g}' for s in rollbacks)}: drawn on in the child run dirs, "
            "the rolled-back rows dimmed)"
        )
    elif opened:
        typer.echo(f"(forks drawn through {len(opened)} parent run(s) up to their fork step)")
