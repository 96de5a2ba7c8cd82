"""The first screen: every job in the registry, refreshed by one background worker."""

from __future__ import annotations

import time
from typing import Any, Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from arcctl.tui.shown_text import plain
from arcctl.tui.screens.base import ArcScreen, row_table
from arcctl.tui.data import JobRow
from jobs.compare_select import SlowRegex, name_regex, name_searcher
from jobs.errors import SpecError

# One render of the table gives the filter regex this long over all rows (the screen redraws every
# few seconds: a slower regex is matched as plain text from then on, with a notice).
FILTER_BUDGET_S = 0.5

COLUMNS = [
    ("", "mark"),
    ("name", "name"),
    ("kind", "kind"),
    ("backend", "backend"),
    ("state", "state"),
    ("step", "step"),
    ("reward", "reward"),
    ("trunc", "truncation"),
    ("alerts", "alerts"),
    ("ETA", "eta"),
    ("age", "age"),
]
SORTS = ["name", "state", "step", "reward", "truncation", "alerts", "eta", "age"]
STATE_STYLE = {
    "running": "green",
    "queued": "cyan",
    "held": "yellow",
    "evicted": "yellow",
    "failed": "red",
    "cancelled": "dim",
    "completed": "blue",
}
SEV_STYLE = {"watch": "yellow", "warning": "dark_orange", "critical": "bold red"}


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "" if v is None else format(v, spec)


def _step(r: JobRow) -> str:
    """`120/600` once the total is known, else the step."""
    if r.step is None:
        return ""
    return r.progress.step_text() if r.progress is not None and r.progress.step == r.step else str(r.step)


def _eta(r: JobRow) -> str:
    """Time left for a job still writing rows; blank once it finished or before its first rows."""
    p = r.progress
    if p is None or p.done or p.step is None or r.state not in ("running", "unknown"):
        return ""
    return p.eta_text()


class JobsScreen(ArcScreen):
    HELP_TITLE = "Jobs"
    HELP_TEXT = (
        "All jobs of the registry. Filter with / (a regex; start with ! to invert); `a` selects\n"
        "every job shown (a sweep by its name pattern), `g` every job of the current job's sweep\n"
        "group (params.wandb_group), `c` compares the selected ones."
    )
    BINDINGS = [
        Binding("enter,o", "open", "open"),
        Binding("slash", "filter", "filter", key_display="/"),
        Binding("s", "sort", "sort"),
        Binding("space", "mark", "select"),
        Binding("a", "mark_all", "select all shown"),
        Binding("g", "mark_group", "select sweep group"),
        Binding("x", "cancel_job", "cancel"),
        Binding("r", "resume", "resume"),
        Binding("f", "fork", "fork"),
        Binding("c", "compare", "compare"),
        Binding("n", "new_job", "new job"),
        Binding("escape", "clear_filter", "clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[JobRow] = []
        self.marked: set[str] = set()
        self.filter = ""
        self.slow_filter = ""  # a filter whose regex took too long: matched as text
        self.sort_key = "name"
        self.sort_reverse = False

    def body(self) -> ComposeResult:
        yield Input(
            placeholder="filter: regex, !regex inverts (enter to apply, esc to clear)",
            id="job-filter",
            classes="hidden",
        )
        yield row_table("jobs", COLUMNS)
        yield Static("", id="jobs-status")

    def on_mount(self) -> None:
        self.query_one("#jobs", DataTable).focus()
        self.poll()
        self.set_interval(max(self.app.refresh_s, 0.25) * 4, self.poll)
        self._start_watcher()

    # -- data --------------------------------------------------------------------------
    def _start_watcher(self) -> None:
        """Job states come from the ONE shared, rate-limited watcher (jobs/watcher.py): it polls
        each backend in one call and writes the registry, which the table then reads."""
        if self.app.source.registry is not None:
            self._watch_states()

    @work(thread=True, exclusive=True, group="watcher")
    def _watch_states(self) -> None:
        from textual.worker import get_current_worker

        from jobs.watcher import refresh_all

        worker = get_current_worker()
        while not worker.is_cancelled:
            try:
                errors = refresh_all(self.app.source.registry)
                self.app.source.error = "; ".join(errors) or None
            except Exception as e:  # noqa: BLE001 - shown in the status line
                self.app.source.error = f"watcher: {e}"
            for _ in range(10):
                if worker.is_cancelled:
                    return
                time.sleep(0.1)

    @work(thread=True, exclusive=True, group="jobs-rows")
    def poll(self) -> None:
        rows = self.app.source.rows()
        self.from_worker(self._show, rows)

    def _show(self, rows: list[JobRow]) -> None:
        self.rows = rows
        self._render_table()

    def visible(self) -> list[JobRow]:
        rows = self._filtered(self.rows)
        key = self.sort_key

        def k(r: JobRow) -> Any:
            v = {"age": -(r.created or 0)}.get(key, getattr(r, key, None))
            return (v is None, v if v is not None else 0)

        return sorted(rows, key=k, reverse=self.sort_reverse)

    def _filtered(self, rows: list[JobRow]) -> list[JobRow]:
        if not self.filter:
            return rows
        try:
            test = row_filter(self.filter, as_text=self.filter == self.slow_filter)
            return [r for r in rows if test(r.text())]
        except SlowRegex as e:
            self.slow_filter = self.filter
            self.notify(f"{e}; matched as plain text instead", severity="warning", markup=False)
            test = row_filter(self.filter, as_text=True)
            return [r for r in rows if test(r.text())]

    def _render_table(self) -> None:
        table = self.query_one("#jobs", DataTable)
        cur_key = self.current_key()
        table.clear()
        now = time.time()
        for r in self.visible():
            table.add_row(
                "●" if r.key in self.marked else " ",
                plain(r.name),
                plain(r.kind),
                plain(r.backend),
                Text(r.state, style=STATE_STYLE.get(r.state, "")),
                _step(r),
                _fmt(r.reward),
                _fmt(r.truncation, ".2f"),
                Text(f"{r.alerts} {r.worst}" if r.alerts else "", style=SEV_STYLE.get(r.worst, "")),
                _eta(r),
                r.age(now),
                key=r.key,
            )
        if cur_key is not None:
            try:
                table.move_cursor(row=table.get_row_index(cur_key))
            except Exception:  # noqa: BLE001 - the row was filtered away
                pass
        shown = table.row_count
        status = f"{shown}/{len(self.rows)} jobs  sort: {self.sort_key}{' desc' if self.sort_reverse else ''}"
        if self.filter:
            status += f"  filter: {self.filter}" + (" (as text)" if self.filter == self.slow_filter else "")
        if self.marked:
            status += f"  selected: {len(self.marked)}"
        if self.app.source.error:
            status += f"  [{self.app.source.error}]"
        if self.app.readonly:
            status += "  READ-ONLY"
        self.query_one("#jobs-status", Static).update(plain(status))

    def current_key(self) -> str | None:
        table = self.query_one("#jobs", DataTable)
        if table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001
            return None

    def current(self) -> JobRow | None:
        key = self.current_key()
        return next((r for r in self.rows if r.key == key), None)

    # -- actions -----------------------------------------------------------------------
    def action_filter(self) -> None:
        inp = self.query_one("#job-filter", Input)
        inp.remove_class("hidden")
        inp.value = self.filter
        inp.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "job-filter":
            self.filter = event.value.strip()
            if not self.filter:
                event.input.add_class("hidden")
            self.query_one("#jobs", DataTable).focus()
            self._render_table()

    def action_clear_filter(self) -> None:
        inp = self.query_one("#job-filter", Input)
        self.filter = ""
        inp.value = ""
        inp.add_class("hidden")
        self.query_one("#jobs", DataTable).focus()
        self._render_table()

    def action_sort(self) -> None:
        i = SORTS.index(self.sort_key)
        if self.sort_reverse:
            self.sort_key, self.sort_reverse = SORTS[(i + 1) % len(SORTS)], False
        else:
            self.sort_reverse = True
        self._render_table()

    def action_mark(self) -> None:
        key = self.current_key()
        if key is None:
            return
        self.marked ^= {key}
        self._render_table()
        self.query_one("#jobs", DataTable).action_cursor_down()

    def action_mark_all(self) -> None:
        """Select every row the filter shows (a regex picks a sweep: `/lr.*beta0.02`, `a`, `c`);
        again unselects them."""
        keys = {r.key for r in self.visible()}
        self.marked = self.marked - keys if keys <= self.marked else self.marked | keys
        self._render_table()

    def action_mark_group(self) -> None:
        """Select every job of the current job's sweep group; again unselects them. Specs are the
        ones the table's refresh has read (no file read here: this is the UI thread)."""
        from jobs.compare_select import sweep_group

        def group_of(r: JobRow) -> str | None:
            v = self.app.source.cached(r.run_dir, r.host)
            return sweep_group(v.spec) if v is not None and v.spec_read else None

        r = self.current()
        group = group_of(r) if r is not None else None
        if group is None:
            self.notify("this job belongs to no sweep group (a sweep records one with wandb = true)", markup=False)
            return
        keys = {x.key for x in self.rows if group_of(x) == group}
        self.marked = self.marked - keys if keys <= self.marked else self.marked | keys
        self.notify(f"sweep group {group}: {len(keys)} job(s)", markup=False)
        self._render_table()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        r = self.current()
        if r is None or not r.run_dir:
            self.notify("no run dir for this job", severity="warning")
            return
        from arcctl.tui.screens.run import RunScreen

        self.app.push_screen(RunScreen(self.app.source.view(r.run_dir, r.host), job=r))

    def action_cancel_job(self) -> None:
        r = self.current()
        if r is None or not self.app.allowed("cancel"):
            return
        from arcctl.tui.actions import cancel_job
        from arcctl.tui.screens.confirm import ConfirmScreen

        def done(yes: bool | None) -> None:
            if yes:
                try:
                    cancel_job(self.app.source, r)
                    self.notify(f"cancelled {r.name}", markup=False)
                except Exception as e:  # noqa: BLE001 - shown, never a traceback
                    self.notify(f"cancel {r.name}: {e}", severity="error", markup=False)
                self.poll()

        self.app.push_screen(
            ConfirmScreen(Text.assemble("Cancel job ", plain(r.name, "bold"), plain(f" ({r.backend}, {r.state})?"))),
            done,
        )

    def action_resume(self) -> None:
        r = self.current()
        if r is None or not self.app.allowed("resume"):
            return
        from arcctl.tui.screens.checkpoints import CheckpointsScreen

        self.app.push_screen(CheckpointsScreen(self.app.source.view(r.run_dir, r.host)))

    def action_fork(self) -> None:
        r = self.current()
        if r is None or not self.app.allowed("fork"):
            return
        from arcctl.tui.screens.fork import ForkScreen

        self.app.push_screen(ForkScreen(self.app.source.view(r.run_dir, r.host), checkpoint=None))

    def action_compare(self) -> None:
        keys = self.marked or ({self.current_key()} if self.current_key() else set())
        rows = [r for r in self.rows if r.key in keys]
        if not rows:
            return
        from arcctl.tui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen([self.app.source.view(r.run_dir, r.host) for r in rows]))

    def action_new_job(self) -> None:
        if not self.app.allowed("new job"):
            return
        from arcctl.tui.screens.new_job import NewJobScreen

        self.app.push_screen(NewJobScreen())


def row_filter(pattern: str, as_text: bool = False) -> Callable[[str], bool]:
    """The jobs-table filter as a test on a row's text: a regex (case-insensitive); a leading `!`
    inverts it. A bad regex (or AS_TEXT) is a plain substring match rather than a failure; a regex
    that backtracks past FILTER_BUDGET_S over the rows raises SlowRegex."""
    invert = pattern.startswith("!")
    pat = pattern[1:] if invert else pattern
    test: Callable[[str], bool] | None = None
    if not as_text:
        try:
            test = name_searcher(name_regex(pat, "filter"), "filter", FILTER_BUDGET_S)
        except SpecError:
            pass
    if test is None:
        low = pat.lower()
        test = lambda text: low in text.lower()  # noqa: E731
    return lambda text: test(text) != invert


def matches(pattern: str, text: str) -> bool:
    """One row's text against the filter (row_filter)."""
    return row_filter(pattern)(text)
