"""Fork a run from a checkpoint: the parent's parameters pre-filled, edit any, preview the new
name and launch artifact, submit. The new spec records parent run + checkpoint (jobs.fork)."""
from __future__ import annotations

import json
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from arcctl.tui.screens.base import SubScreen
from arcctl.tui.widgets.params_form import ParamsForm
from jobs.runview import RunView


class ForkScreen(SubScreen):
    HELP_TITLE = "Fork"
    HELP_TEXT = ("A new run from the chosen checkpoint with the parameters you change here.\n"
                 "The preview shows the new name, run dir and exactly what will be launched.")
    BINDINGS = [
        Binding("ctrl+s", "submit", "submit"),
        Binding("ctrl+r", "preview", "preview"),
    ]

    def __init__(self, view: RunView, checkpoint: str | None) -> None:
        super().__init__()
        self.view = view
        self.checkpoint = checkpoint
        self.spec: Any = None
        self.submitted: list[str] = []

    def body(self) -> ComposeResult:
        spec = self.view.spec
        with Vertical(id="form-head"):
            yield Static(Text.assemble(("Fork ", "bold"), (self.view.name(), "bold magenta"), " from ",
                                       (self.checkpoint or "the newest valid checkpoint", "bold")))
            with Horizontal(classes="field-row"):
                yield Label("new name (optional)", classes="field-label")
                yield Input("", placeholder="derived from the changed parameters", id="fork-name", classes="field-input")
        with Horizontal(id="form-body"):
            if spec.get("kind"):
                yield ParamsForm(spec["kind"], spec.get("params") or {}, allow_sweep=False, id="form-fields")
            else:
                yield Static(self.view.spec_error or "this run has no spec.json: nothing to fork", id="form-fields")
            with VerticalScroll(id="form-preview"):
                yield Static("", id="preview")
        with Horizontal(id="form-buttons"):
            yield Button("Preview (ctrl+r)", id="btn-preview")
            yield Button("Submit fork (ctrl+s)", id="btn-submit", variant="success")

    def on_mount(self) -> None:
        self.sub_title = f"{self.view.name()} · fork"
        self.action_preview()

    def on_params_form_changed(self, event: ParamsForm.Changed) -> None:
        self.action_preview()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "fork-name":
            self.action_preview()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "btn-submit":
            self.action_submit()
        else:
            self.action_preview()

    def overrides(self) -> dict[str, str]:
        forms = list(self.query(ParamsForm))
        return forms[0].changed() if forms else {}

    def action_preview(self) -> None:
        forms = list(self.query(ParamsForm))
        if not forms:
            return
        if forms[0].errors:
            self._show_preview(None, None, "fix the fields marked in red first")
            return
        self._compute(self.overrides(), self.query_one("#fork-name", Input).value.strip())

    @work(thread=True, exclusive=True, group="fork-preview")
    def _compute(self, overrides: dict[str, str], name: str) -> None:
        from arcctl.tui.actions import fork_preview

        try:
            spec, artifact = fork_preview(self.view.run_dir, self.checkpoint, overrides, fs=self.view.fs,
                                          name=name or None, source=self.app.source)
            self.app.call_from_thread(self._show_preview, spec, artifact, None)
        except Exception as e:  # noqa: BLE001 - shown in the preview pane
            self.app.call_from_thread(self._show_preview, None, None, str(e))

    def _show_preview(self, spec: Any, artifact: Any, error: str | None) -> None:
        self.spec = spec
        box = self.query_one("#preview", Static)
        if error:
            box.update(Text(error, style="bold red"))
            return
        parent = self.view.spec.get("params") or {}
        t = Text()
        t.append("new run  ", style="dim")
        t.append(f"{spec.name}\n", style="bold green")
        t.append("run dir  ", style="dim")
        t.append(f"{spec.run_dir}\n")
        t.append("parent   ", style="dim")
        t.append(f"{spec.parent.name} @ {spec.parent.checkpoint or '(start)'}\n" if spec.parent else "-\n")
        # A parameter the parent's spec does not record (added to the template since) takes its
        # default: not a change the user made (unless edited here), so only counted, not listed.
        edited = self.overrides()
        changes = {k: v for k, v in spec.params.items() if (k in parent and parent[k] != v) or k in edited}
        unrecorded = [k for k in spec.params if k not in parent and k not in edited]
        t.append("changes  ", style="dim")
        t.append(", ".join(f"{k}: {json.dumps(parent.get(k))} → {json.dumps(v)}" for k, v in changes.items()) or "none", style="yellow")
        if unrecorded:
            t.append(f"\n         {len(unrecorded)} parameters the parent's spec does not record take their defaults", style="dim")
        t.append(f"\n\n{artifact.kind}" + (f" ({artifact.filename})" if artifact.filename else "") + ":\n", style="bold")
        lexer = "bash" if artifact.kind in ("command", "sbatch") else "ini"
        box.update(Text.assemble(t, Syntax(artifact.text, lexer, theme="ansi_dark").highlight(artifact.text)))

    def action_submit(self) -> None:
        if not self.app.allowed("submit"):
            return
        forms = list(self.query(ParamsForm))
        if not forms or forms[0].validate_all():
            self.notify("fix the fields marked in red first", severity="error")
            return
        self._submit(self.overrides(), self.query_one("#fork-name", Input).value.strip())

    @work(thread=True, exclusive=True, group="fork-submit")
    def _submit(self, overrides: dict[str, str], name: str) -> None:
        from arcctl.tui.actions import fork_preview, submit

        try:
            spec, _ = fork_preview(self.view.run_dir, self.checkpoint, overrides, fs=self.view.fs,
                                   name=name or None, source=self.app.source)
            ids = submit(self.app.source, [spec])
        except Exception as e:  # noqa: BLE001 - one line, never a traceback
            self.app.call_from_thread(self.notify, str(e), severity="error", timeout=10)
            return
        self.submitted = ids
        self.app.call_from_thread(self._done, spec, ids)

    def _done(self, spec: Any, ids: list[str]) -> None:
        self.notify(f"submitted fork {spec.name} (job {', '.join(ids)})", timeout=6)
        self.app.pop_screen()
