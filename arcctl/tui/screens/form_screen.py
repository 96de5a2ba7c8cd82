"""A parameters form with a preview pane (the new-job and fork screens): ctrl+r or any valid edit
previews, ctrl+s submits; nothing is submitted while a field is marked in red."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Static

from arcctl.tui.screens.base import SubScreen
from arcctl.tui.widgets.params_form import ParamsForm

FIX_FIELDS = "fix the fields marked in red first"


class FormScreen(SubScreen):
    """Subclasses start their worker in `start_preview` / `start_submit` and show what it built."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "submit"),
        Binding("ctrl+r", "preview", "preview"),
    ]
    PREVIEW_BUTTON = "Preview (ctrl+r)"
    SUBMIT_BUTTON = "Submit (ctrl+s)"

    def preview_pane(self) -> ComposeResult:
        with VerticalScroll(id="form-preview"):
            yield Static("", id="preview")

    def buttons(self) -> ComposeResult:
        with Horizontal(id="form-buttons"):
            yield Button(self.PREVIEW_BUTTON, id="btn-preview")
            yield Button(self.SUBMIT_BUTTON, id="btn-submit", variant="success")

    def form(self) -> ParamsForm | None:
        forms = list(self.query(ParamsForm))
        return forms[0] if forms else None

    def show_error(self, message: str) -> None:
        self.query_one("#preview", Static).update(Text(message, style="bold red"))

    def start_preview(self, form: ParamsForm) -> None:
        raise NotImplementedError

    def start_submit(self, form: ParamsForm) -> None:
        raise NotImplementedError

    def on_params_form_changed(self, event: ParamsForm.Changed) -> None:
        self.action_preview()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_submit() if event.button.id == "btn-submit" else self.action_preview()

    def action_preview(self) -> None:
        form = self.form()
        if form is None:
            return
        if form.errors:
            self.show_error(FIX_FIELDS)
            return
        self.start_preview(form)

    def action_submit(self) -> None:
        if not self.app.allowed("submit"):
            return
        form = self.form()
        if form is None or form.validate_all():
            self.notify(FIX_FIELDS, severity="error")
            return
        self.start_submit(form)
