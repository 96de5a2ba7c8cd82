"""Runs side by side: the latest training metrics (best per row in bold) and, where the runs or
their checkpoints have been evaluated, the eval table of jobs.compare (best per column in bold,
the same as `arcctl compare`) with the pass@k curves as a chart."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual_plotext import PlotextPlot

from jobs.runview import RunView

LOWER_IS_BETTER = ("kl", "grad_norm", "frac_reward_zero_std", "completions/clipped_ratio", "loss", "arc/ngram")


class CompareScreen(Screen):
    HELP_TITLE = "Compare"
    HELP_TEXT = ("Top: latest value of each training metric per run (best of each row bold).\n"
                 "Bottom: eval metrics per run/checkpoint (best per column bold) and pass@k curves.")
    BINDINGS = [Binding("escape", "app.pop_screen", "back")]

    def __init__(self, views: list[RunView]) -> None:
        super().__init__()
        self.views = views
        self.eval_table: Any = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield DataTable(id="cmp-table", zebra_stripes=True)
            yield Static("Eval", classes="panel-title")
            with Horizontal(id="cmp-eval"):
                yield DataTable(id="cmp-eval-table", zebra_stripes=True)
                yield PlotextPlot(id="passk")
        yield Static("", id="cmp-status")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        for v in self.views:
            v.refresh(completion_bytes=0)
        table, error = None, None
        try:
            from jobs.compare import build_table

            table = build_table([v.run_dir for v in self.views], fs=self.views[0].fs if self.views else None)
        except Exception as e:  # noqa: BLE001 - no eval yet is normal; the message says what is missing
            error = str(e)
        self.app.call_from_thread(self.show, table, error)

    def show(self, table: Any, error: str | None) -> None:
        t = self.query_one("#cmp-table", DataTable)
        t.add_column("metric", key="metric")
        for i, v in enumerate(self.views):
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
        self.eval_table = table
        et = self.query_one("#cmp-eval-table", DataTable)
        status = f"{len(self.views)} runs"
        if table is None or not table.rows:
            status += f"  eval: {error or 'none'}"
        else:
            et.add_column("experiment", key="experiment")
            et.add_column("dataset", key="dataset")
            for c in table.columns:
                et.add_column(c, key=c)
            for i, r in enumerate(table.rows):
                et.add_row(r.label, r.dataset, *[Text(table.cell(i, c), style="bold green" if i in table.best.get(c, set()) else "")
                                                 for c in table.columns])
            plot = self.query_one("#passk", PlotextPlot)
            plt = plot.plt
            plt.clear_data()
            plt.title("pass@k")
            for r in table.rows:
                ks = sorted(r.pass_at_k, key=float)
                if ks:
                    plt.plot([float(k) for k in ks], [r.pass_at_k[k] for k in ks], label=r.label[:24], marker="hd")
            plt.xlabel("k")
            plot.refresh()
            status += f"  eval rows: {len(table.rows)}"
        self.query_one("#cmp-status", Static).update(status)
