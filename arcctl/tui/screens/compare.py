"""Runs side by side: one metric of every run overlaid on shared axes (forks drawn as a chain
through their parents, checkpoint/alert/fork markers; `m` changes the metric), the latest training
metrics (best per row in bold) and, where the runs or their checkpoints have been evaluated, the
eval table of jobs.compare (best per column in bold, the same as `arcctl compare`) with the
pass@k curves as a chart. The runs are re-read while the screen is open."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from arcctl.cli.terminal_text import one_line
from arcctl.tui.shown_text import plain
from arcctl.tui.screens.base import SubScreen
from arcctl.tui.widgets.fitted_table import fill_table
from arcctl.tui.widgets.charts import plottable
from arcctl.tui.widgets.overlay_chart import OverlayChart
from jobs.overlay import chain, rollback_tip
from jobs.metrics_history import DEFAULT_CHARTS
from jobs.runview import RunView

SMOOTHING = [0.0, 0.6, 0.9, 0.97]

LOWER_IS_BETTER = ("kl", "grad_norm", "frac_reward_zero_std", "completions/clipped_ratio", "loss", "arc/ngram")


class CompareScreen(SubScreen):
    HELP_TITLE = "Compare"
    HELP_TEXT = (
        "Top: one metric of every run on shared axes; a fork is drawn through its parent's rows\n"
        "up to the fork step, a run the guard rolled back on through its rollback children.\n\n"
        "Dimmed lines in a run's colour, '(rolled back)' in the legend: the rows it wrote after the\n"
        "checkpoint the guard went back to (the collapse), drawn beside the chain, not on it.\n\n"
        "Markers: checkpoints (gray), alerts (yellow/orange/red), forks (cyan), rollbacks (magenta).\n"
        "Legends name the parameters that differ. Middle: latest value of each metric per run\n"
        "(best of each row bold). Bottom: eval metrics per run/checkpoint and pass@k curves."
    )
    BINDINGS = [
        Binding("m", "next_metric(1)", "next metric"),
        Binding("M", "next_metric(-1)", "previous metric"),
        Binding("left_square_bracket", "smooth(-1)", "less smoothing", key_display="["),
        Binding("right_square_bracket", "smooth(1)", "more smoothing", key_display="]"),
    ]

    def __init__(self, views: list[RunView], metric: str = "reward") -> None:
        super().__init__()
        self.views = views
        self.eval_table: Any = None
        self.metric = metric
        self.smoothing_i = 0
        self.parents: dict[str, RunView] = {}  # ancestors and rollback children, read by the worker
        self.tips: dict[int, RunView] = {}  # id(view) -> its newest rollback child (the run's outcome)

    def body(self) -> ComposeResult:
        with Vertical():
            yield OverlayChart(self.metric, id="overlay")
            yield DataTable(id="cmp-table", zebra_stripes=True)
            yield Static("Eval", classes="panel-title")
            with Horizontal(id="cmp-eval"):
                yield DataTable(id="cmp-eval-table", zebra_stripes=True)
                yield PlotextPlot(id="passk")
        yield Static("", id="cmp-status")

    def on_mount(self) -> None:
        self.load()
        self.set_interval(max(self.app.refresh_s, 0.25) * 2, self.tick)

    def _read(self) -> bool:
        """Re-read every run and its ancestors (worker thread); True when what is drawn changed.
        The views are shared with the jobs table, whose refresh may have read the new rows
        first: what counts is what the views hold, not what this refresh read."""
        for v in self.views:
            v.refresh(completion_bytes=0)
        fresh = {id(v) for v in self.views}  # read in this pass

        def open_parent(run_dir: str, fs: Any) -> RunView:
            p = self._linked(run_dir)
            if p is None:
                p = self.parents[run_dir] = RunView(run_dir, fs)
            return p

        def open_fresh(run_dir: str, fs: Any) -> RunView:
            # a rollback child is read before it is followed: its events name the next child,
            # and it grows (training goes on in the newest child)
            p = open_parent(run_dir, fs)
            if id(p) not in fresh:
                p.refresh(completion_bytes=0)
                fresh.add(id(p))
            return p

        for v in self.views:
            tip = rollback_tip(v, lambda d, fs=v.fs: open_fresh(d, fs))
            self.tips[id(v)] = tip
            for seg in chain(tip, lambda d, fs=v.fs: open_parent(d, fs)):
                if id(seg.view) not in fresh:
                    seg.view.refresh(completion_bytes=0)
                    fresh.add(id(seg.view))
        held = tuple((len(v.metrics), len(v.events)) for v in [*self.views, *self.parents.values()])
        changed, self._held = held != getattr(self, "_held", None), held
        return changed

    def _linked(self, run_dir: str) -> RunView | None:
        """A run a chain goes through: one of the compared runs (a rollback child's parent is
        often one), else a parent or rollback child opened for the chains."""
        return next((v for v in self.views if v.run_dir == run_dir), None) or self.parents.get(run_dir)

    @work(thread=True, exclusive=True, group="compare-tick")
    def tick(self) -> None:
        if self._read():
            self.from_worker(self.redraw)

    def redraw(self) -> None:
        if self.is_attached:
            self.query_one(OverlayChart).draw(self.views, SMOOTHING[self.smoothing_i], self._linked)
            self._status()

    def _names(self) -> list[str]:
        """Every metric any run logged, in first-seen order."""
        names: list[str] = []
        for v in self.views:
            names += [n for n in self._tip(v).metrics.names() if n not in names]
        return names

    def metric_names(self) -> list[str]:
        names = self._names()
        return [n for n in DEFAULT_CHARTS if n in names] + [n for n in names if n not in DEFAULT_CHARTS]

    def action_next_metric(self, delta: int) -> None:
        names = self.metric_names()
        if not names:
            return
        i = names.index(self.metric) if self.metric in names else -1
        self.metric = names[(i + delta) % len(names)]
        self.query_one(OverlayChart).metric = self.metric
        self.redraw()

    def action_smooth(self, delta: int) -> None:
        self.smoothing_i = max(0, min(len(SMOOTHING) - 1, self.smoothing_i + delta))
        self.redraw()

    def _status(self) -> None:
        status = f"{len(self.views)} runs  metric: {self.metric} (m)  smoothing {SMOOTHING[self.smoothing_i]:.2f}"
        if self.parents:
            status += f"  + {len(self.parents)} linked run(s) drawn as chains"
        self.query_one("#cmp-status", Static).update(plain(status + getattr(self, "_eval_status", "")))

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        self._read()
        table, error = None, None
        try:
            from jobs.compare import build_table

            table = build_table([v.run_dir for v in self.views], fs=self.views[0].fs if self.views else None)
        except Exception as e:  # noqa: BLE001 - no eval yet is normal; the message says what is missing
            error = str(e)
        self.from_worker(self.show, table, error)

    def _tip(self, view: RunView) -> RunView:
        """Where the run's training ended: its newest rollback child, else the run itself."""
        return self.tips.get(id(view), view)

    def _column(self, view: RunView) -> str:
        tip = self._tip(view)
        if tip is view:
            return view.name()[:28]
        # a rollback child's name is its parent's plus what changed: its end tells them apart
        child = tip.name() if len(tip.name()) <= 40 else "…" + tip.name()[-39:]
        return f"{view.name()[:28]} → {child}"

    def show(self, table: Any, error: str | None) -> None:
        # a run the guard rolled back shows its newest rollback child's values, as the eval table does
        tips = [self._tip(v) for v in self.views]
        rows: list[list[Any]] = [["step", *[str(v.metrics.last_step() or "") for v in tips]]]
        for n in self._names():
            vals = [v.metrics.last(n) for v in tips]
            present = [x for x in vals if x is not None]
            best = None
            if len(present) > 1:
                best = min(present) if n.startswith(LOWER_IS_BETTER) else max(present)
            rows.append(
                [
                    n,
                    *[
                        Text("" if x is None else f"{x:.4g}", style="bold" if x is not None and x == best else "")
                        for x in vals
                    ],
                ]
            )
        fill_table(
            self.query_one("#cmp-table", DataTable),
            [("metric", "metric"), *[(self._column(v), f"r{i}") for i, v in enumerate(self.views)]],
            rows,
        )
        self.eval_table = table
        status = ""
        if table is None or not table.rows:
            status += f"  eval: {error or 'none'}"
        else:
            fill_table(
                self.query_one("#cmp-eval-table", DataTable),
                [("experiment", "experiment"), ("dataset", "dataset"), *[(c, c) for c in table.columns]],
                [
                    [
                        r.label,
                        r.dataset,
                        *[
                            Text(table.cell(i, c), style="bold green" if i in table.best.get(c, set()) else "")
                            for c in table.columns
                        ],
                    ]
                    for i, r in enumerate(table.rows)
                ],
            )
            plot = self.query_one("#passk", PlotextPlot)
            plt = plot.plt
            plt.clear_data()
            plt.title("pass@k")
            for r in table.rows:
                ks = sorted(r.pass_at_k, key=float)
                xs, ys = plottable([float(k) for k in ks], [r.pass_at_k[k] for k in ks])
                if xs:
                    plt.plot(xs, ys, label=one_line(r.label[:24]), marker="hd")
            plt.xlabel("k")
            plot.refresh()
            status += f"  eval rows: {len(table.rows)}"
        self._eval_status = status
        if self.metric not in self.metric_names() and self.metric_names():
            self.metric = self.metric_names()[0]
            self.query_one(OverlayChart).metric = self.metric
        self.redraw()
