"""A HER run as a per-target table: epoch reached, solved (at which epoch), best pixel score per
epoch as a curve; below, the epochs of the highlighted target and the best program of the
highlighted epoch. Everything comes from the run's events and completions (jobs.her_report)."""

from __future__ import annotations

from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Static

from arcctl.cli.terminal_text import one_line
from arcctl.tui.shown_text import lines, plain
from arcctl.tui.screens.base import SubScreen, row_table
from jobs.her_report import EpochPoint, TargetRow, sparkline, targets_from_events
from jobs.runview import RunView


def solved_cell(row: TargetRow) -> Text:
    if row.solved_at is not None:
        return Text(f"yes @ {row.solved_at}", style="bold green")
    return Text("no" if row.finished else "searching", style="red" if row.finished else "yellow")


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


class HERScreen(SubScreen):
    HELP_TITLE = "HER targets"
    HELP_TEXT = (
        "One row per target task: the epoch reached, whether (and at which epoch) a program\n"
        "solved every train pair, and the best pixel score of each epoch as a curve.\n"
        "Below: the epochs of the highlighted target and the best program of the highlighted epoch."
    )
    BINDINGS = [
        Binding("tab", "switch", "targets/epochs"),
    ]
    DEFAULT_CSS = """
    #her-targets { height: 1fr; }
    #her-bottom { height: 1fr; border-top: solid $primary; }
    #her-epochs { width: 44; }
    #her-program-box { width: 1fr; border-left: solid $primary; padding: 0 1; }
    #her-status { height: 1; background: $panel; color: $text-muted; }
    """

    def __init__(self, view: RunView) -> None:
        super().__init__()
        self.view = view
        self.rows: list[TargetRow] = []
        self.points: list[EpochPoint] = []

    def body(self) -> ComposeResult:
        yield row_table(
            "her-targets",
            [
                ("task", "task"),
                ("epoch", "epoch"),
                ("solved", "solved"),
                ("best", "best"),
                ("test", "test"),
                ("best pixel score per epoch", "curve"),
            ],
        )
        with Horizontal(id="her-bottom"):
            yield row_table("her-epochs", [(label, label) for label in ("epoch", "best", "mean", "solved", "test")])
            with VerticalScroll(id="her-program-box"):
                yield Static("", id="her-program")
        yield Static("", id="her-status")

    def on_mount(self) -> None:
        self.sub_title = f"{one_line(self.view.name())} · HER targets"
        self.query_one("#her-targets", DataTable).focus()
        self.tick()
        self.set_interval(self.app.refresh_s, self.tick)

    @work(thread=True, group="her-refresh")
    def tick(self) -> None:
        if self.view.refresh(wait=False) is None:
            return
        rows = targets_from_events(self.view.events)
        self.from_worker(self.show, rows)

    def show(self, rows: list[TargetRow]) -> None:
        if not self.is_attached or rows == self.rows and self.query_one("#her-targets", DataTable).row_count:
            return
        self.rows = rows
        t = self.query_one("#her-targets", DataTable)
        keep = t.cursor_row
        t.clear()
        for r in rows:
            curve = r.best_curve
            t.add_row(
                plain(r.task_id),
                str(r.epoch_reached),
                solved_cell(r),
                _pct(max((v for v in curve if v is not None), default=None)),
                _pct(r.test_correct),
                sparkline(curve),
                key=r.task_id,
            )
        if rows:
            t.move_cursor(row=min(keep, len(rows) - 1))
        solved = sum(r.solved_at is not None for r in rows)
        bad = sum(len(r.invalid) for r in rows)
        invalid = f" · {bad} score(s) not in 0..1 read as missing" if bad else ""
        self.query_one("#her-status", Static).update(
            f"{len(rows)} targets · {solved} solved{invalid}" if rows else "no HER epochs yet (is this a HER run?)"
        )
        self.show_epochs()

    def _target(self) -> TargetRow | None:
        t = self.query_one("#her-targets", DataTable)
        return self.rows[t.cursor_row] if self.rows and 0 <= t.cursor_row < len(self.rows) else None

    def show_epochs(self) -> None:
        row = self._target()
        e = self.query_one("#her-epochs", DataTable)
        keep = e.cursor_row
        e.clear()
        self.points = list(row.epochs) if row else []
        for p in self.points:
            e.add_row(
                str(p.epoch),
                _pct(p.best_pixel_score),
                _pct(p.mean_pixel_score),
                Text("yes", style="green") if p.solved else "no",
                _pct(p.test_correct),
            )
        if self.points:
            e.move_cursor(row=min(keep, len(self.points) - 1))
        self.show_program()

    def show_program(self) -> None:
        e = self.query_one("#her-epochs", DataTable)
        if not self.points or not 0 <= e.cursor_row < len(self.points):
            self.query_one("#her-program", Static).update("")
            return
        self.load_program(self.points[e.cursor_row])

    @work(thread=True, exclusive=True, group="her-program")
    def load_program(self, point: EpochPoint) -> None:
        """The epoch's rank-0 program: its completions start at its step (best first)."""
        self.view.refresh(completion_bytes=None)  # under the view's lock: the index is shared
        idx = self.view.completions
        line = idx.first_line_of_step(point.step) if point.step is not None else None
        if line is None:
            body: Text | Syntax = Text(f"epoch {point.epoch}: no program in completions.jsonl", style="dim")
        else:
            c = idx.read([line])[0]
            code = c.raw.get("program") if isinstance(c.raw.get("program"), str) else c.text
            body = (
                Syntax(lines(code), "python", line_numbers=False, word_wrap=True)
                if code
                else plain(f"epoch {point.epoch}: best sample had no program ({c.error})", style="dim")
            )
        self.from_worker(self._set_program, body)

    def _set_program(self, body) -> None:
        if self.is_attached:
            self.query_one("#her-program", Static).update(body)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "her-targets":
            self.show_epochs()
        elif event.data_table.id == "her-epochs":
            self.show_program()

    def action_switch(self) -> None:
        targets = self.query_one("#her-targets", DataTable)
        (self.query_one("#her-epochs", DataTable) if targets.has_focus else targets).focus()
