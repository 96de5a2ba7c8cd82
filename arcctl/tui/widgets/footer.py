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

    def _shown(self, screen: Any) -> list[tuple[Any, bool, str]]:
        """What compose shows: the screen's active bindings, each with its enabled state and tooltip."""
        return [(b, enabled, tip) for (_, b, enabled, tip) in screen.active_bindings.values() if b.show]

    def bindings_changed(self, screen: Any) -> None:
        # Textual recomposes the footer on every bindings change (each focus move, each screen
        # shown again), building and styling every key anew: ~10 times while a run screen and
        # its completions page open, on the UI thread the first paint waits for. Most leave
        # the keys as they were: those are skipped.
        if self._bindings_ready and self.is_attached and screen is self.screen and self.children:
            if getattr(self, "_composed", None) == self._shown(screen):
                return
        super().bindings_changed(screen)

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._composed = self._shown(self.screen)
        # No binding sets a `group`, so the keys come back flat and can be buffered and reordered.
        keys = list(super().compose())
        pinned = sorted((k for k in keys if getattr(k, "action", None) in PINNED), key=lambda k: PINNED.index(k.action))
        yield from (k for k in keys if k not in pinned)
        if pinned:
            with HorizontalGroup(classes="-pinned"):
                yield from pinned
