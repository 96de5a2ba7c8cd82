"""Fill a DataTable whose columns are sized to their widest cell before the first paint.

A DataTable measures auto-width columns when it is next idle, but a row painted before that
(the cursor row repaints as soon as a row exists) stays cached at the header's width: the same
data then draws in one of two layouts depending on timing. Widths fixed when the columns are
added draw the same every time."""

from __future__ import annotations

from typing import Sequence

from rich.text import Text
from textual.widgets import DataTable

from arcctl.tui.shown_text import plain

Cell = str | Text


def fill_table(
    table: DataTable,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Cell]],
    keys: Sequence[str] | None = None,
) -> None:
    """Replace the table's columns and rows. `columns`: (label, key) pairs; `rows`: one cell per
    column; `keys`: one row key per row. Strings are shown as plain text (never parsed as markup: run names and parameters
    are user input)."""
    table.clear(columns=True)
    cells = [[c if isinstance(c, Text) else plain(c) for c in row] for row in rows]
    for i, (label, key) in enumerate(columns):
        head = plain(label)
        width = max([head.cell_len, *(row[i].cell_len for row in cells if i < len(row))])
        table.add_column(head, key=key, width=width)
    for i, row in enumerate(cells):
        table.add_row(*row, key=None if keys is None else keys[i])
