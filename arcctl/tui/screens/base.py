"""What every screen of the console shares: the header, the footer (help and quit pinned),
`escape` back to the screen below, and the list of its key bindings that the help screen and
the command palette show."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header

from arcctl.tui.widgets.footer import ArcFooter


class ArcScreen(Screen):
    """Subclasses yield their widgets from `body()`; `HELP_TITLE`/`HELP_TEXT` feed the help screen."""

    HELP_TITLE = ""
    HELP_TEXT = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield from self.body()
        yield ArcFooter()

    def body(self) -> ComposeResult:
        yield from ()

    def from_worker(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run CALLBACK(*ARGS) on the UI thread for one of this screen's worker threads, unless the
        screen is closing or closed: leaving it or quitting removes its widgets while a worker may
        still be reading, and a callback that queries them would raise and end the whole app."""

        def if_open() -> None:
            if self.is_attached and not self._pruning:  # `_pruning`: set as the removal starts
                callback(*args)

        self.app.call_from_thread(if_open)


class SubScreen(ArcScreen):
    """A screen opened from another one: `escape` goes back to it."""

    BINDINGS = [Binding("escape", "app.pop_screen", "back")]


def row_table(table_id: str, columns: Sequence[tuple[str, str]] = ()) -> DataTable:
    """A list whose cursor selects whole rows, with its (label, key) columns."""
    table = DataTable(id=table_id, cursor_type="row", zebra_stripes=True)
    for label, key in columns:
        table.add_column(label, key=key)
    return table


def described_bindings(screen: Screen) -> Iterator[Binding]:
    """The screen's bindings (inherited ones first, as the footer orders them) and then the
    app's, each action once, only those with a description."""
    chosen: dict[str, Binding] = {}  # action -> binding, in first-seen order
    own = [b for cls in reversed(type(screen).__mro__) for b in cls.__dict__.get("BINDINGS", [])]
    for b in own:
        if isinstance(b, Binding) and b.description:
            chosen[b.action] = b  # a subclass's binding of an action wins (new job: "dry-run preview")
    for b in screen.app.BINDINGS:
        if isinstance(b, Binding) and b.description and b.action not in chosen:
            chosen[b.action] = b
    yield from chosen.values()
