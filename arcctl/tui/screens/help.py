"""`?`: the keys of the screen underneath, with what they do."""

from __future__ import annotations

from rich.text import Text
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
        # built as Text, not markup: a key shown as `[` opened a tag (`[[/b]  less smoothing`)
        text = Text()
        text.append(getattr(self.under, "HELP_TITLE", type(self.under).__name__), style="bold")
        text.append("\n\n")
        about = getattr(self.under, "HELP_TEXT", "")
        if about:
            text.append(reflowed(about) + "\n\n")
        for b in described_bindings(self.under):
            text.append(f"  {b.key_display or b.key:>12}", style="bold")
            text.append(f"  {b.description}\n")
        if getattr(self.app, "readonly", False):
            text.append("\nread-only: actions that change jobs are disabled\n", style="yellow")
        text.append("\nesc closes this help")
        with VerticalScroll(id="help-box"):
            yield Static(text, id="help-text")

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)


def reflowed(text: str) -> str:
    """HELP_TEXT as the box wraps it: a single newline is a space (the texts are wrapped at ~90
    columns in the source, the box is narrower: each source line broke in two); a blank line
    keeps a paragraph apart."""
    return "\n\n".join(" ".join(p.split()) for p in text.split("\n\n"))
