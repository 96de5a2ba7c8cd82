"""Every checkpoint-N of a run with its validity and the metrics at its step; pick one to resume
in place or to fork with changed parameters."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from arcctl.cli.terminal_text import one_line
from arcctl.tui.shown_text import plain
from arcctl.tui.screens.base import SubScreen, row_table
from arcctl.tui.widgets.fitted_table import fill_table
from jobs import rundir
from jobs.errors import JobsError
from jobs.runview import CheckpointRow, RunView

METRIC_COLS = [
    ("reward", "reward"),
    ("kl", "kl"),
    ("entropy", "entropy"),
    ("clipped", "completions/clipped_ratio"),
    ("len", "completions/mean_length"),
    ("zero_std", "frac_reward_zero_std"),
]
COLUMNS = [("", "mark"), ("checkpoint", "name"), ("step", "step"), ("valid", "valid"), *METRIC_COLS]


class CheckpointsScreen(SubScreen):
    HELP_TITLE = "Checkpoints"
    HELP_TEXT = (
        "Every checkpoint of the run, with the metrics logged at its step. ★ marks the newest\n"
        "valid checkpoint before the first health warning: the usual one to go back to."
    )
    BINDINGS = [
        Binding("enter,f", "fork", "fork from it"),
        Binding("r", "resume", "resume in place"),
    ]

    def __init__(self, view: RunView) -> None:
        super().__init__()
        self.view = view
        self.rows: list[CheckpointRow] = []
        self.healthy: str | None = None

    def body(self) -> ComposeResult:
        yield row_table("ck-table")
        yield Static("", id="ck-status")

    def on_mount(self) -> None:
        self.sub_title = f"{one_line(self.view.name())} · checkpoints"
        self.query_one("#ck-table", DataTable).focus()
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        self.view.refresh(completion_bytes=0)
        rows = self.view.checkpoints()
        warn = [
            a.first_step
            for a in self.view.alerts()
            if a.severity in ("warning", "critical") and a.first_step is not None
        ]
        first = min(warn) if warn else None
        ok = [r for r in rows if r.valid and (first is None or r.step < first)]
        self.from_worker(self.show, rows, ok[-1].name if ok else None, first, self._branches())

    def _branches(self) -> list[str]:
        """What resumes from earlier checkpoints moved aside (branches/<time>-from-checkpoint-N), oldest first."""
        try:
            return sorted(self.view.fs.listdir(f"{self.view.run_dir.rstrip('/')}/{rundir.BRANCHES}"))
        except (OSError, JobsError):  # none yet, or the host went away: the table still shows
            return []

    def show(
        self, rows: list[CheckpointRow], healthy: str | None, first_warning: int | None, branches: list[str] = ()
    ) -> None:
        self.rows, self.healthy = rows, healthy
        t = self.query_one("#ck-table", DataTable)
        cells = [
            [
                "★" if r.name == healthy else "",
                plain(r.name),
                str(r.step),
                Text("ok", style="green") if r.valid else plain(f"no: {r.problem}", style="red"),
                *[("" if k not in r.metrics else f"{r.metrics[k]:.4g}") for _, k in METRIC_COLS],
            ]
            for r in rows
        ]
        fill_table(t, COLUMNS, cells, keys=[r.name for r in rows])
        if healthy:
            t.move_cursor(row=[r.name for r in rows].index(healthy))
        msg = f"{len(rows)} checkpoints"
        if first_warning is not None:
            msg += f"  first health warning at step {first_warning}"
        if healthy:
            msg += f"  ★ {healthy}: newest valid before it"
        if not rows:
            msg = "no checkpoints saved yet"
        if branches:
            msg += f"  {len(branches)} earlier branch(es) moved aside, newest: {rundir.BRANCHES}/{branches[-1]}"
        self.query_one("#ck-status", Static).update(plain(msg))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_fork()  # enter on a row: the table takes the key, so act on its message

    def current(self) -> CheckpointRow | None:
        t = self.query_one("#ck-table", DataTable)
        if not self.rows or t.row_count == 0:
            return None
        return self.rows[t.cursor_row]

    def _pick(self, what: str) -> CheckpointRow | None:
        """The highlighted checkpoint when `what` is allowed and it can be used (else says why)."""
        if not self.app.allowed(what):
            return None
        r = self.current()
        if r is None:
            self.notify("no checkpoint selected", severity="warning")
        elif not r.valid:
            self.notify(f"{r.name} cannot be used: {r.problem}", severity="error", markup=False)
            return None
        return r

    def action_fork(self) -> None:
        r = self._pick("fork")
        if r is None:
            return
        from arcctl.tui.screens.fork import ForkScreen

        self.app.push_screen(ForkScreen(self.view, checkpoint=r.name))

    def action_resume(self) -> None:
        r = self._pick("resume")
        if r is None:
            return
        from arcctl.tui.screens.confirm import ConfirmScreen

        def done(yes: bool | None) -> None:
            if not yes:
                return
            from arcctl.tui.actions import resume

            try:
                jid = resume(self.app.source, self.view.run_dir, r.name)
                self.notify(f"resumed job {jid} from {r.name}", markup=False)
            except Exception as e:  # noqa: BLE001 - one line, never a traceback
                self.notify(str(e), severity="error", timeout=8, markup=False)

        self.app.push_screen(
            ConfirmScreen(
                Text.assemble("Resume ", plain(self.view.name(), "bold"), " in place from ", plain(r.name, "bold"), "?")
            ),
            done,
        )
