"""The footer every screen shows: its keys, with the palette (`:`), help (`?`) and quit (`q`)
pinned to the right edge, so a narrow terminal that cuts the row short still shows how to find
every action, get help and leave."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import HorizontalGroup
from textual.widgets import Footer

PINNED = ("command_palette", "help", "quit")


class ArcFooter(Footer):
    DEFAULT_CSS = """
    ArcFooter HorizontalGroup.-pinned { dock: right; width: auto; background: $footer-background; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(show_command_palette=False, **kw)  # the pinned `:` key opens it

    def compose(self) -> ComposeResult:
        # No binding sets a `group`, so the keys come back flat and can be buffered and reordered.
        keys = list(super().compose())
        pinned = sorted((k for k in keys if getattr(k, "action", None) in PINNED), key=lambda k: PINNED.index(k.action))
        yield from (k for k in keys if k not in pinned)
        if pinned:
            with HorizontalGroup(classes="-pinned"):
                yield from pinned
