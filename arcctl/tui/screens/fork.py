"""Fork a run from a checkpoint: the parent's parameters pre-filled, edit any, preview the new
name and launch artifact, submit. The new spec records parent run + checkpoint (jobs.fork)."""

from __future__ import annotations

import json
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

from arcctl.cli.terminal_text import one_line
from arcctl.tui.screens.form_screen import FormScreen
from arcctl.tui.shown_text import plain
from arcctl.tui.widgets.params_form import ParamsForm
from jobs.params import PARAMS_BY_KIND
from jobs.runview import RunView


class ForkScreen(FormScreen):
    HELP_TITLE = "Fork"
    HELP_TEXT = (
        "A new run from the chosen checkpoint with the parameters you change here.\n"
        "The preview shows the new name, run dir and exactly what will be launched."
    )
    SUBMIT_BUTTON = "Submit fork (ctrl+s)"

    def __init__(self, view: RunView, checkpoint: str | None) -> None:
        super().__init__()
        self.view = view
        self.checkpoint = checkpoint
        self.spec: Any = None
        self.submitted: list[str] = []

    def body(self) -> ComposeResult:
        spec = self.view.spec
        with Vertical(id="form-head"):
            yield Static(
                Text.assemble(
                    ("Fork ", "bold"),
                    (one_line(self.view.name()), "bold magenta"),
                    " from ",
                    (self.checkpoint or "the newest valid checkpoint", "bold"),
                )
            )
            with Horizontal(classes="field-row"):
                yield Label("new name (optional)", classes="field-label")
                yield Input(
                    "", placeholder="derived from the changed parameters", id="fork-name", classes="field-input"
                )
        with Horizontal(id="form-body"):
            kind = spec.get("kind")
            if isinstance(kind, str) and kind in PARAMS_BY_KIND:  # a hand-edited spec.json may name no kind, or a list
                yield ParamsForm(kind, self.view.params, allow_sweep=False, id="form-fields")
            else:
                why = self.view.spec_error or f"spec.json names no job kind ({kind!r}): nothing to fork"
                yield Static(plain(why), id="form-fields")
            yield from self.preview_pane()
        yield from self.buttons()

    def on_mount(self) -> None:
        self.sub_title = f"{one_line(self.view.name())} · fork"
        self.action_preview()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "fork-name":
            self.action_preview()

    def overrides(self) -> dict[str, str]:
        form = self.form()
        return form.changed() if form else {}

    def _fork(self, overrides: dict[str, str], name: str) -> tuple[Any, Any]:
        """(spec, launch artifact) of the fork as the form stands (worker thread)."""
        from arcctl.tui.actions import fork_preview

        return fork_preview(
            self.view.run_dir, self.checkpoint, overrides, fs=self.view.fs, name=name or None, source=self.app.source
        )

    def start_preview(self, form: ParamsForm) -> None:
        self._compute(self.overrides(), self.query_one("#fork-name", Input).value.strip())

    def start_submit(self, form: ParamsForm) -> None:
        self._submit(self.overrides(), self.query_one("#fork-name", Input).value.strip())

    @work(thread=True, exclusive=True, group="fork-preview")
    def _compute(self, overrides: dict[str, str], name: str) -> None:
        try:
            self.from_worker(self._show_preview, *self._fork(overrides, name))
        except Exception as e:  # noqa: BLE001 - shown in the preview pane
            self.from_worker(self.show_error, str(e))

    def show_error(self, message: str) -> None:
        self.spec = None
        super().show_error(message)

    def _show_preview(self, spec: Any, artifact: Any) -> None:
        self.spec = spec
        box = self.query_one("#preview", Static)
        parent = self.view.params
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
        t.append(
            ", ".join(f"{k}: {json.dumps(parent.get(k))} → {json.dumps(v)}" for k, v in changes.items()) or "none",
            style="yellow",
        )
        if unrecorded:
            t.append(
                f"\n         {len(unrecorded)} parameters the parent's spec does not record take their defaults",
                style="dim",
            )
        t.append(
            f"\n\n{artifact.kind}" + (f" ({artifact.filename})" if artifact.filename else "") + ":\n", style="bold"
        )
        lexer = "bash" if artifact.kind in ("command", "sbatch") else "ini"
        box.update(Text.assemble(t, Syntax(artifact.text, lexer, theme="ansi_dark").highlight(artifact.text)))

    @work(thread=True, exclusive=True, group="fork-submit")
    def _submit(self, overrides: dict[str, str], name: str) -> None:
        from arcctl.tui.actions import submit

        try:
            spec, _ = self._fork(overrides, name)
            ids = submit(self.app.source, [spec])
        except Exception as e:  # noqa: BLE001 - one line, never a traceback
            self.app.call_from_thread(self.notify, str(e), severity="error", timeout=10, markup=False)
            return
        self.submitted = ids
        self.from_worker(self._done, spec, ids)

    def _done(self, spec: Any, ids: list[str]) -> None:
        self.notify(f"submitted fork {spec.name} (job {', '.join(ids)})", timeout=6, markup=False)
        self.app.pop_screen()
