"""Eval predictions of a run (eval/predictions.jsonl): one row per prediction, and for the selected
one the task's pairs next to the program's outputs as coloured cells (the same grid widget as the
completions inspector): test outputs against the expected ones, train pairs too."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Static

from arcctl.cli.terminal_text import one_line
from arcctl.tui.shown_text import plain
from arcctl.tui.screens.base import SubScreen, row_table
from arcctl.tui.widgets.arc_grid import PairsView
from jobs.runview import RunView

MAX_ROWS = 5000  # predictions listed; a bigger eval shows its first ones and says so


def predictions_path(run_dir: str) -> str:
    from jobs.kaggle_submission import EVAL_DIR, PREDICTIONS_FILE

    return f"{run_dir.rstrip('/')}/{EVAL_DIR}/{PREDICTIONS_FILE}"


def _valid_grids(v: Any) -> list | None:
    """Grids as the eval job wrote them (nested lists); anything else is dropped."""
    from jobs.arcgrids import decode, encode

    if not isinstance(v, list):
        return None
    out = []
    for g in v:
        code = encode(g) if isinstance(g, list) else None
        out.append(decode(code) if code else None)
    return out


def _count(flags: Any) -> str:
    """Per-test-grid correctness [True, False] -> "1/2" (blank when unknown)."""
    if not isinstance(flags, list) or not flags:
        return ""
    return f"{sum(1 for f in flags if f is True)}/{len(flags)}"


def _mean(values: Any) -> str:
    nums = [v for v in values if isinstance(v, (int, float))] if isinstance(values, list) else []
    return f"{sum(nums) / len(nums):.2f}" if nums else ""


class EvalScreen(SubScreen):
    HELP_TITLE = "Eval predictions"
    HELP_TEXT = (
        "Each prediction of the eval job: task, sample, error, correct test grids, pixel score.\n"
        "The selected one: the task's pairs next to the program's outputs (train, then test)."
    )

    def __init__(self, view: RunView) -> None:
        super().__init__()
        self.view = view
        self.records: list[dict[str, Any]] = []

    def body(self) -> ComposeResult:
        with Horizontal(id="eval-body"):
            yield row_table(
                "eval-table", [(label, label) for label in ("task", "sample", "error", "test ok", "pixels")]
            )
            with VerticalScroll(id="eval-detail"):
                yield PairsView("", id="eval-grids")
        yield Static("", id="eval-status")

    def on_mount(self) -> None:
        self.sub_title = f"{one_line(self.view.name())} · eval predictions"
        self.query_one("#eval-table", DataTable).focus()
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        from jobs import rundir

        path = predictions_path(self.view.run_dir)
        try:
            recs = [r for r in rundir.read_jsonl(path, self.view.fs) if isinstance(r, dict)]
            error = None
        except (OSError, ValueError) as e:
            recs, error = [], f"{path}: {e}"
        self.from_worker(self.show, recs, error)

    def show(self, recs: list[dict[str, Any]], error: str | None) -> None:
        self.records = recs[:MAX_ROWS]
        t = self.query_one("#eval-table", DataTable)
        for r in self.records:
            t.add_row(
                plain(str(r.get("task_id", ""))[:12]),
                plain(r.get("sample", "")),
                plain(str(r.get("error") or "")[:16], style="red"),
                _count(r.get("test_correct")),
                _mean(r.get("test_pixel")),
            )
        status = error or f"{len(recs)} predictions" + (f" (first {MAX_ROWS} listed)" if len(recs) > MAX_ROWS else "")
        self.query_one("#eval-status", Static).update(plain(status))
        if self.records:
            self.detail(self.records[0])
        else:
            self.query_one(PairsView).show_message(error or "no predictions yet")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.records):
            self.detail(self.records[event.cursor_row])

    @work(thread=True, exclusive=True, group="eval-grids")
    def detail(self, rec: dict[str, Any]) -> None:
        from jobs.arcgrids import load_pairs

        dataset = str(self.view.params.get("dataset", ""))
        pairs = load_pairs(dataset, str(rec.get("task_id", "")))
        train, test = _valid_grids(rec.get("train_outputs")), _valid_grids(rec.get("test_outputs"))
        outputs = None if train is None and test is None else (train or []) + (test or [])
        if pairs is not None and train is None and test is not None:  # only test outputs kept
            outputs = [None] * len(pairs[0]) + test
        missing = f"✗ {rec['error']}" if rec.get("error") else "✗ no output"

        def show() -> None:
            grids = self.query_one(PairsView)
            if pairs is not None:
                grids.show_pairs(pairs[0], pairs[1], outputs, missing)
            else:
                grids.show_message(
                    f"(task {rec.get('task_id')} is not in a data set this machine can read (built-in, or a task file here): {dataset or '?'})"
                )

        self.from_worker(show)
