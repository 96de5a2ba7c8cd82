"""`arcctl compare RUN... --plot METRIC`: training metrics of several runs on shared axes in the
terminal, the same picture as the dashboard's compare screen (forks drawn through their parents,
checkpoint / alert / fork markers, legends naming the parameters that differ)."""

from __future__ import annotations

from typing import Any

import typer


def plot_runs(
    targets: list[str], metric: str, width: int | None = None, height: int = 20, smoothing: float = 0.0
) -> None:
    from rich.console import Console

    from arcctl.cli.errors import UserError
    from arcctl.cli.resolve import resolve_run
    from arcctl.tui.widgets.braille import Picture, Series, legend, render
    from arcctl.tui.widgets.overlay_chart import vmarks
    from jobs.overlay import overlay
    from jobs.runview import RunView

    views: list[Any] = []
    for t in targets:
        target = resolve_run(t)
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
    forks = sorted({s for ln in lines for s in ln.fork_steps})
    pic = Picture(
        width,
        height,
        [Series(ln.xs, ln.ys, ln.label) for ln in lines],
        vmarks(marks, width, forks),
        f"{metric}   ┆ checkpoint  │ alert  ║ fork",
    )
    console.print(render(pic), crop=True)
    console.print(legend(pic), crop=True)
    if opened:
        typer.echo(f"(forks drawn through {len(opened)} parent run(s) up to their fork step)")
