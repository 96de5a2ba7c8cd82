"""Jinja's sandbox with bounds, for the user's own prompt templates (trainer.prompt_template).

SandboxedEnvironment stops unsafe attributes and caps one range() at 100,000 items, but nested
loops (100,000 x 100,000 iterations), string repetition (`"x" * 10**10`), doubling a namespace
value in a loop (`ns.s ~ ns.s`), `"x"|center(10**10)` or `"{:>9999999999}".format(1)` hung or
filled memory while the trainer built its prompts. Here every render has a budget:

- at most MAX_STEPS loop iterations and calls together, and MAX_SECONDS (nested loops, recursion);
- no string or list, built or rendered, longer than MAX_CHARS: a repetition, a concatenation, a
  replace or a padding is refused before it is built when its size is known in advance, else
  checked as soon as it exists (so nothing past 2 x MAX_CHARS is ever held);
- no width or count argument past MAX_CHARS to a padding/width/count filter or string method
  (center, ljust, indent, truncate, zfill, ...), and no width or precision past it in a format
  field (`str.format`, `%`, `|format`); other numbers (a task id, `5000000|string`) are left alone.

Any excess raises RenderLimit, which the template's one-line error reports.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import re
import time
from typing import Any, Iterable, Iterator

from jinja2 import nodes
from jinja2.runtime import LoopContext
from jinja2.sandbox import SandboxedEnvironment, SandboxedFormatter
from jinja2.visitor import NodeTransformer

MAX_STEPS = 1_000_000  # a prompt needs a few hundred: one loop over the train pairs, one per grid row
MAX_SECONDS = 10.0
MAX_CHARS = 1 << 20  # ~1M characters: 20x the largest ARC prompt (10 pairs of 30x30 grids)
MAX_POW_BITS = 1 << 16  # 2**10**9 would take minutes to compute before any check

_EACH, _SIZED = "_arcctl_each", "_arcctl_sized"  # filters the bounded templates call internally
# str.format spec: [[fill]align][sign][z][#][0][width][grouping][.precision][type]
_BRACE_SPEC = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>\d*)[,_]?(?:\.(?P<prec>\d+))?", re.S)
# printf spec: %[(key)][flags][width|*][.precision|*][length]type
_PERCENT_SPEC = re.compile(
    r"%(?:\([^)]*\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d*))?[hlL]?(?:[diouxXeEfFgGcrsab%]|$)"
)
# filters and str methods whose int arguments are widths or counts (the piped value is not checked)
_SIZING_FILTERS = frozenset({"center", "indent", "truncate", "wordwrap", "batch", "slice"})
_SIZING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_SIZING_GLOBALS = frozenset({"lipsum"})  # lipsum(n): n paragraphs


class RenderLimit(Exception):
    """A prompt template went past one of the render bounds."""


class _Budget:
    def __init__(self) -> None:
        self.steps = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise RenderLimit(f"more than {MAX_STEPS:,} loop iterations and calls in one render (nested loops?)")
        if self.steps % 256 == 0 and time.monotonic() > self.deadline:
            raise RenderLimit(f"rendering took more than {MAX_SECONDS:g} s (nested loops?)")


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("prompt_render_budget", default=None)


def _tick() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.tick()


def _sized(value: Any) -> Any:
    if isinstance(value, (str, list, tuple, dict)) and len(value) > MAX_CHARS:
        kind = "text" if isinstance(value, str) else type(value).__name__
        raise RenderLimit(f"a {kind} of {len(value):,} items, more than the {MAX_CHARS:,} a prompt may hold")
    return value


def _each(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        _tick()
        yield item


def _check_args(args: tuple, kwargs: dict) -> None:
    for v in (*args, *kwargs.values()):
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_CHARS:
            raise RenderLimit(f"the argument {v} is past the {MAX_CHARS:,} a prompt may hold")


def _too_wide(fmt: str, *numbers: str | None) -> None:
    for n in numbers:
        if n and n != "*" and int(n) > MAX_CHARS:
            raise RenderLimit(f"the format {fmt[:40]!r} asks for a width past the {MAX_CHARS:,} a prompt may hold")


class _WidthChecker(SandboxedFormatter):
    """Walks a str.format like the sandbox does (nested `{:{w}}` widths resolved), formatting nothing."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        return value

    def format_field(self, value: Any, format_spec: str) -> str:
        m = _BRACE_SPEC.match(format_spec)
        if m:
            _too_wide(format_spec, m["width"], m["prec"])
        return ""


def _check_brace_format(env: Any, fmt: str, args: tuple, kwargs: Any) -> None:
    """The width and precision of every `{...}` field of FMT, as str.format(*ARGS, **KWARGS) would see them."""
    try:
        _WidthChecker(env).vformat(fmt, args, kwargs)
    except RenderLimit:
        raise
    except Exception:  # noqa: BLE001 - a malformed format: str.format itself reports it
        pass


def _check_percent_format(fmt: Any, values: Any) -> None:
    """The width and precision of every `%` spec of FMT; a `*` takes them from VALUES."""
    if not isinstance(fmt, str):
        return
    star = False
    for m in _PERCENT_SPEC.finditer(fmt):
        _too_wide(fmt, m["width"], m["prec"])
        star = star or "*" in (m["width"], m["prec"])
    if star:
        _check_args(values if isinstance(values, tuple) else (values,), {})


def _check_replace(s: Any, old: Any, new: Any) -> None:
    if isinstance(s, str) and isinstance(old, str) and isinstance(new, str):
        n = s.count(old) if old else len(s) + 1
        _sized_len(len(s) + n * (len(new) - len(old)))


def _sized_len(n: int) -> None:
    if n > MAX_CHARS:
        raise RenderLimit(f"a result of {n:,} items, more than the {MAX_CHARS:,} a prompt may hold")


def _guarded_filter(name: str, f: Any) -> Any:
    @functools.wraps(f)  # keeps jinja_pass_arg: the wrapper gets the same context/environment
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        skip = 2 if getattr(f, "jinja_pass_arg", None) is not None else 1  # context/env, then the value
        if name in _SIZING_FILTERS:
            _check_args(args[skip:], kwargs)
        strs = [a for a in args if isinstance(a, str)]
        if name == "format" and len(args) >= skip:  # jinja's format filter is `value % (kwargs or args)`
            _check_percent_format(args[skip - 1], kwargs or tuple(args[skip:]))
        if name == "replace" and len(strs) >= 3:
            _check_replace(*strs[:3])
        return _sized(f(*args, **kwargs))

    return wrapper


class _Bound(NodeTransformer):
    """Every for-loop's items pass through _EACH (one step each); every `~` result through _SIZED."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, _EACH, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(node, _SIZED, [], [], None, None, lineno=node.lineno)


class BoundedEnvironment(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})  # also keeps them from being folded at compile

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {k: _guarded_filter(k, f) for k, f in self.filters.items()}
        self.filters[_EACH], self.filters[_SIZED] = _each, _sized

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        return _Bound().visit(super()._parse(source, name, filename))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        seqs = (str, list, tuple)
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, seqs) and isinstance(n, int):
                    _sized_len(len(seq) * max(n, 0))
        elif operator == "+" and isinstance(left, seqs) and isinstance(right, seqs):
            _sized_len(len(left) + len(right))
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            if right * max(abs(left).bit_length() - 1, 0) > MAX_POW_BITS:
                raise RenderLimit(f"{left} ** {right} is past {MAX_POW_BITS} bits")
        elif operator == "%" and isinstance(left, str):
            _check_percent_format(left, right)
        return _sized(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _tick()
        if isinstance(__obj, LoopContext) and args:  # `loop(children)` of a recursive loop
            args = (_each(args[0]), *args[1:])
        inner = inspect.unwrap(__obj)  # str.format comes wrapped by the sandbox
        owner, name = getattr(inner, "__self__", None), getattr(inner, "__name__", "")
        if isinstance(owner, str):
            if name == "format":
                _check_brace_format(__self, owner, args, kwargs)
            elif name == "format_map" and args:
                _check_brace_format(__self, owner, (), args[0])
            elif name in _SIZING_METHODS:
                _check_args(args, kwargs)
            elif name == "replace" and len(args) >= 2:
                _check_replace(owner, args[0], args[1])
        elif name in _SIZING_GLOBALS:
            _check_args(args, kwargs)
        return _sized(super().call(__context, __obj, *args, **kwargs))


def render_bounded(template: Any, ctx: dict[str, Any]) -> str:
    """TEMPLATE (compiled by a BoundedEnvironment) rendered within the bounds: RenderLimit past one."""
    token = _BUDGET.set(_Budget())
    try:
        out: list[str] = []
        total = 0
        for piece in template.generate(**ctx):
            total += len(piece)
            if total > MAX_CHARS:
                raise RenderLimit(f"the rendered text is past the {MAX_CHARS:,} characters a prompt may hold")
            out.append(piece)
        return "".join(out)
    finally:
        _BUDGET.reset(token)
