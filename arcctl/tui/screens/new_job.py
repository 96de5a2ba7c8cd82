"""New job: template + profile, typed fields with the template's defaults and inline errors; a
comma-separated value makes a sweep, previewed point by point with the dry-run launch artifact."""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticUndefined
from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Select, Static

from arcctl.tui.screens.form_screen import FormScreen
from arcctl.tui.widgets.params_form import ParamsForm
from jobs.params import PARAMS_BY_KIND

MAX_PREVIEW = 20


def template_defaults(tpl: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, f in PARAMS_BY_KIND[tpl.kind].model_fields.items():
        d = f.get_default(call_default_factory=True)
        out[name] = None if d is PydanticUndefined else d
    out.update(tpl.params)
    return out


class NewJobScreen(FormScreen):
    HELP_TITLE = "New job"
    HELP_TEXT = (
        "Pick a template and a profile, change any parameter. `a,b` in a field makes a sweep\n"
        "(one run per combination). The preview is a dry run: nothing is written until submit."
    )
    BINDINGS = [Binding("ctrl+r", "preview", "dry-run preview")]
    PREVIEW_BUTTON = "Dry run (ctrl+r)"

    def __init__(self, template: str | None = "grpo", profile: str = "local") -> None:
        super().__init__()
        self.template, self.profile = template, profile
        self.specs: list[Any] = []
        self.submitted: list[str] = []
        self._tpl: Any = None

    def body(self) -> ComposeResult:
        from jobs.templates import profile_names, template_names

        tnames, pnames = template_names(), profile_names()
        self.template = self.template if self.template in tnames else (tnames[0] if tnames else None)
        self.profile = self.profile if self.profile in pnames else (pnames[0] if pnames else "local")
        with Vertical(id="form-head"):
            with Horizontal(classes="field-row"):
                yield Label("template", classes="field-label")
                yield Select(
                    [(n, n) for n in tnames], value=self.template or Select.BLANK, allow_blank=False, id="template"
                )
            with Horizontal(classes="field-row"):
                yield Label("profile", classes="field-label")
                yield Select([(n, n) for n in pnames], value=self.profile, allow_blank=False, id="profile")
        with Horizontal(id="form-body"):
            yield Vertical(id="form-holder")
            yield from self.preview_pane()
        yield from self.buttons()

    async def on_mount(self) -> None:
        await self._load_template()

    async def _load_template(self) -> None:
        from jobs.templates import load_template

        holder = self.query_one("#form-holder", Vertical)
        await holder.remove_children()
        if not self.template:
            await holder.mount(Static("no templates found", id="form-fields"))
            return
        try:
            self._tpl = load_template(self.template)
        except Exception as e:  # noqa: BLE001 - a broken template file is shown, not raised
            await holder.mount(Static(Text(str(e), style="red"), id="form-fields"))
            return
        await holder.mount(ParamsForm(self._tpl.kind, template_defaults(self._tpl), id="form-fields"))
        self.action_preview()

    async def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "template" and event.value != self.template:
            self.template = str(event.value)
            await self._load_template()
        elif event.select.id == "profile":
            self.profile = str(event.value)
            self.action_preview()

    def overrides(self) -> list[str]:
        form = self.form()
        return [f"{k}={v}" for k, v in form.changed().items()] if form else []

    def start_preview(self, form: ParamsForm) -> None:
        self._build(self.template, self.overrides(), self.profile)

    def show_error(self, message: str) -> None:
        self.specs = []
        super().show_error(message)

    @work(thread=True, exclusive=True, group="new-job-preview")
    def _build(self, template: str, overrides: list[str], profile: str) -> None:
        from jobs.submit import build_specs, render

        try:
            specs = build_specs(template, overrides, profile)
            pairs = render(specs[:1])
            self.from_worker(self._show, (specs, pairs[0][1]), None)
        except Exception as e:  # noqa: BLE001
            self.from_worker(self._show, None, str(e))

    def _show(self, result: Any, error: str | None) -> None:
        if error:
            self.show_error(error)
            return
        box = self.query_one("#preview", Static)
        specs, artifact = result
        self.specs = specs
        t = Text()
        t.append(
            f"{len(specs)} run{'s' if len(specs) != 1 else ''}" + (" (sweep)" if len(specs) > 1 else "") + "\n",
            style="bold",
        )
        for s in specs[:MAX_PREVIEW]:
            t.append(f"  {s.name}\n", style="green")
            t.append(f"    {s.run_dir}\n", style="dim")
        if len(specs) > MAX_PREVIEW:
            t.append(f"  … {len(specs) - MAX_PREVIEW} more\n")
        t.append(
            f"\ndry run, first point: {artifact.kind}"
            + (f" ({artifact.filename})" if artifact.filename else "")
            + "\n",
            style="bold",
        )
        box.update(Text.assemble(t, Syntax(artifact.text, "bash", theme="ansi_dark").highlight(artifact.text)))

    def start_submit(self, form: ParamsForm) -> None:
        self._submit(self.template, self.overrides(), self.profile)

    @work(thread=True, exclusive=True, group="new-job-submit")
    def _submit(self, template: str, overrides: list[str], profile: str) -> None:
        from arcctl.tui.actions import submit
        from jobs.submit import build_specs

        try:
            specs = build_specs(template, overrides, profile, registry=self.app.source.registry)
            ids = submit(self.app.source, specs)
        except Exception as e:  # noqa: BLE001
            self.app.call_from_thread(self.notify, str(e), severity="error", timeout=10, markup=False)
            return
        self.submitted = ids
        self.from_worker(self._done, ids)

    def _done(self, ids: list[str]) -> None:
        self.notify(f"submitted {len(ids)} job(s): {', '.join(ids)}", timeout=6)
        self.app.pop_screen()
