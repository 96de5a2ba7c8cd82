"""Runs side by side: the last value of each metric, best per row in bold (jobs.compare gives the
eval tables when the runs have eval/metrics.json)."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from jobs.runview import RunView

LOWER_IS_BETTER = ("kl", "grad_norm", "frac_reward_zero_std", "completions/clipped_ratio", "loss", "arc/ngram")


class CompareScreen(Screen):
    HELP_TITLE = "Compare"
    HELP_TEXT = "Latest value of each metric per run; the best of each row is bold."
    BINDINGS = [Binding("escape", "app.pop_screen", "back")]

    def __init__(self, views: list[RunView]) -> None:
        super().__init__()
        self.views = views

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="cmp-table", zebra_stripes=True)
        yield Static("", id="cmp-status")
        yield Footer()

    def on_mount(self) -> None:
        t = self.query_one("#cmp-table", DataTable)
        t.add_column("metric", key="metric")
        for i, v in enumerate(self.views):
            v.refresh(completion_bytes=0)
            t.add_column(v.name()[:28], key=f"r{i}")
        names: list[str] = []
        for v in self.views:
            names += [n for n in v.metrics.names() if n not in names]
        t.add_row("step", *[str(v.metrics.last_step() or "") for v in self.views])
        for n in names:
            vals = [v.metrics.last(n) for v in self.views]
            present = [x for x in vals if x is not None]
            best = None
            if len(present) > 1:
                best = min(present) if n.startswith(LOWER_IS_BETTER) else max(present)
            t.add_row(n, *[Text("" if x is None else f"{x:.4g}", style="bold" if x is not None and x == best else "")
                           for x in vals])
        self.query_one("#cmp-status", Static).update(f"{len(self.views)} runs")
