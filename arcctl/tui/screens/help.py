"""`?`: the keys of the screen underneath, with what they do."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from arcctl.tui.screens.base import described_bindings


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        title = getattr(self.under, "HELP_TITLE", type(self.under).__name__)
        lines = [f"[b]{title}[/b]", ""]
        about = getattr(self.under, "HELP_TEXT", "")
        if about:
            lines += [about, ""]
        for b in described_bindings(self.under):
            key = b.key_display or b.key
            lines.append(f"  [b]{key:>12}[/b]  {b.description}")
        if getattr(self.app, "readonly", False):
            lines += ["", "[yellow]read-only: actions that change jobs are disabled[/yellow]"]
        lines += ["", "esc closes this help"]
        with VerticalScroll(id="help-box"):
            yield Static("\n".join(lines), id="help-text")

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
