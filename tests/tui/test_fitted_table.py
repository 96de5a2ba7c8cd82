"""Tables filled after the first paint draw the same layout however painting and the table's
idle-time measuring interleave (the compare screen's snapshot drew one of two layouts)."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App
from textual.widgets import DataTable

from arcctl.tui.widgets.fitted_table import fill_table

pytestmark = pytest.mark.timeout(60)


class TableApp(App):
    CSS = "DataTable { height: 6; width: 60; }"  # a fixed size, as in a screen's layout

    def compose(self):
        yield DataTable()


async def test_cursor_row_painted_before_the_table_is_idle_keeps_the_full_widths():
    app = TableApp()
    async with app.run_test(size=(80, 10)) as pilot:
        t = app.query_one(DataTable)
        await pilot.pause()
        fill_table(
            t,
            [("metric", "m"), ("[b]run[/b]", "r")],
            [["step", "60"], ["completions/clipped_ratio", Text("1", style="bold")]],
        )
        first = t.render_line(1).text  # the cursor row, painted before the table measured its rows
        await pilot.pause(0.2)
        header, step, clipped = (t.render_line(y).text for y in range(3))
        assert step == first
        assert step.index("60") == clipped.index("1") == len(" completions/clipped_ratio  ")
        assert "[b]run[/b]" in header  # labels and cells are user text, never markup


async def test_refilling_replaces_columns_and_rows():
    app = TableApp()
    async with app.run_test(size=(80, 10)) as pilot:
        t = app.query_one(DataTable)
        fill_table(t, [("a", "a")], [["x" * 30]])
        fill_table(t, [("b", "b"), ("c", "c")], [["1", "2"], ["3", "4"]])
        await pilot.pause(0.1)
        assert [str(c.label) for c in t.ordered_columns] == ["b", "c"] and t.row_count == 2
        assert t.render_line(1).text.startswith(" 1  2 ")
