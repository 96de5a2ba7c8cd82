"""Typed parameter fields for a job kind: one Input per parameter (CLI `-p` syntax: `a,b` is a
sweep, `[..]`/`{..}` JSON, `none`), each checked with jobs.sweep.coerce as it is typed so the error
shows under the field that caused it."""

from __future__ import annotations

import json
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Static

from arcctl.tui.shown_text import plain
from jobs.errors import SpecError
from jobs.params import PARAMS_BY_KIND
from jobs.sweep import coerce, split_values

# What people change most often comes first; the rest follow in model order.
FIRST = [
    "learning_rate",
    "beta",
    "repetition_penalty",
    "temperature",
    "num_generations",
    "max_completion_length",
    "max_steps",
    "epochs",
    "lora_r",
    "model_path",
    "dataset",
    "max_tasks",
    "save_steps",
    "guard",
]


def fmt(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, str):
        return v
    return json.dumps(v)


def with_defaults(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The model's defaults overlaid with `params` (a hand-written spec.json may omit defaults)."""
    from pydantic_core import PydanticUndefined

    out: dict[str, Any] = {}
    for name, f in PARAMS_BY_KIND[kind].model_fields.items():
        d = f.get_default(call_default_factory=True)
        out[name] = None if d is PydanticUndefined else d
    out.update(params)
    return out


def field_order(kind: str) -> list[str]:
    names = list(PARAMS_BY_KIND[kind].model_fields)
    return [n for n in FIRST if n in names] + [n for n in names if n not in FIRST]


class ParamsForm(VerticalScroll):
    class Changed(Message):
        def __init__(self, form: "ParamsForm") -> None:
            super().__init__()
            self.form = form

    def __init__(self, kind: str, values: dict[str, Any], allow_sweep: bool = True, **kw: Any) -> None:
        super().__init__(**kw)
        self.kind = kind
        values = with_defaults(kind, values)
        self.initial = {k: fmt(values.get(k)) for k in field_order(kind)}
        self.allow_sweep = allow_sweep
        self.errors: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        model = PARAMS_BY_KIND[self.kind]
        for name in field_order(self.kind):
            info = model.model_fields[name]
            with Vertical(classes="field-row"):
                with Horizontal(classes="field-row"):
                    yield Label(name, classes="field-label")
                    yield Input(
                        self.initial[name], id=f"p-{name}", classes="field-input", tooltip=info.description or None
                    )
                yield Static("", id=f"err-{name}", classes="field-error hidden")

    def texts(self) -> dict[str, str]:
        return {n: self.query_one(f"#p-{n}", Input).value for n in self.initial}

    def changed(self) -> dict[str, str]:
        """Fields whose text differs from what the form started with."""
        return {k: v for k, v in self.texts().items() if v.strip() != self.initial[k].strip()}

    def check(self, name: str, text: str) -> str | None:
        if not text.strip():
            return "empty value (type none for no value)"
        values = split_values(text)
        if len(values) > 1 and not self.allow_sweep:
            return "one value only here (a comma makes a sweep; use the new-job form for sweeps)"
        for v in values:
            try:
                coerce(self.kind, name, v)
            except SpecError as e:
                return str(e)
        return None

    def validate_all(self) -> dict[str, str]:
        self.errors = {}
        for name, text in self.texts().items():
            self._show(name, self.check(name, text))
        return self.errors

    def _show(self, name: str, err: str | None) -> None:
        box = self.query_one(f"#err-{name}", Static)
        if err:
            self.errors[name] = err
            box.update(plain(f"↑ {err}"))  # it quotes what was typed: `[/]` is no markup
            box.remove_class("hidden")
            self.query_one(f"#p-{name}", Input).add_class("-invalid")
        else:
            self.errors.pop(name, None)
            box.update("")
            box.add_class("hidden")
            self.query_one(f"#p-{name}", Input).remove_class("-invalid")

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("p-"):
            name = event.input.id[2:]
            self._show(name, self.check(name, event.value))
            self.post_message(self.Changed(self))
