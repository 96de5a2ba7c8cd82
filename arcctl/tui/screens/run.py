"""One run: live charts, its spec and parent, health alerts and the stdout/stderr tail."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, SelectionList, Static
from textual.widgets.option_list import Option

from arcctl.cli.terminal_text import one_line
from arcctl.tui.shown_text import lines, plain
from arcctl.tui.screens.base import SubScreen
from arcctl.tui.widgets.charts import MetricChart
from arcctl.tui.widgets.log_tail import LogTail
from jobs.completions import CHUNK
from jobs.rundir import LocalFS
from jobs.runview import Alert, RunView

PREFERRED = ["reward", "kl", "completions/clipped_ratio", "entropy"]
# SFT runs log no reward/KL: open them on what they do log.
PREFERRED_BY_KIND = {
    "sft": ["loss", "learning_rate", "grad_norm", "tokens_per_second"],
    "her": ["her/best_pixel_score", "her/mean_pixel_score", "her/valid_outputs", "her/unique_outputs"],
}
SMOOTHING = [0.0, 0.6, 0.9, 0.97]
SEV_STYLE = {"watch": "yellow", "warning": "dark_orange", "critical": "bold red"}
SEV_ORDER = ("watch", "warning", "critical")


def alert_text(a: Alert) -> Text:
    """`warning repetition seen @ 45 → warning @ 50` and the message: the severity reached at
    each step (the rule may have fired before it reached any of them: `seen`)."""
    t = Text()
    t.append(f"{a.severity} ", style=SEV_STYLE.get(a.severity, ""))
    t.append(one_line(f"{a.rule} "))
    reached = sorted(a.steps.items(), key=lambda kv: (kv[1], SEV_ORDER.index(kv[0]) if kv[0] in SEV_ORDER else 3))
    parts: list[tuple[str, str, int]] = [(sev, SEV_STYLE.get(sev, ""), step) for sev, step in reached]
    if a.first_step is not None and (not parts or a.first_step < parts[0][2]):
        parts.insert(0, ("seen" if parts else "", "", a.first_step))
    for i, (label, style, step) in enumerate(parts):
        if i:
            t.append(" → ", style="dim")
        t.append(f"{label} @ {step}" if label else f"@ {step}", style=style)
    t.append(f"\n{lines(str(a.message))}")
    return t


def spec_summary(view: RunView) -> Text:
    spec = view.spec
    t = Text()
    if not spec:
        t.append(one_line(view.spec_error or "no spec.json"), style="red")
        return t
    t.append(f"{one_line(str(spec.get('name', '?')))}\n", style="bold")
    t.append(one_line(f"{spec.get('kind', '?')} · template {spec.get('template', '?')} · {spec.get('backend', '?')}"))
    if spec.get("host"):
        t.append(one_line(f" @ {spec['host']}"))
    t.append("\n")
    parent = spec.get("parent") or spec.get("resume_from")
    if isinstance(parent, dict):  # a hand-edited spec.json may hold anything here
        label = "forked from" if spec.get("parent") else "resumed from"
        t.append(
            one_line(f"{label} {parent.get('name') or parent.get('run_dir')} {parent.get('checkpoint') or '(newest)'}")
            + "\n",
            style="magenta",
        )
    params = view.params
    for k in (
        "model_path",
        "dataset",
        "learning_rate",
        "beta",
        "repetition_penalty",
        "num_generations",
        "max_completion_length",
        "temperature",
        "lora_r",
        "max_steps",
    ):
        if k in params:
            t.append(f"{k}: ", style="dim")
            t.append(f"{json.dumps(params[k])}\n")
    t.append(one_line(f"run dir: {view.run_dir}"), style="dim")
    return t


class MetricPicker(ModalScreen[list[str]]):
    # enter must reach the screen: the focused SelectionList would take it as a toggle
    BINDINGS = [Binding("escape", "cancel", "cancel"), Binding("enter", "done", "apply", priority=True)]

    def __init__(self, names: list[str], chosen: list[str]) -> None:
        super().__init__()
        self.names, self.chosen = names, chosen

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box"):
            yield Static("Charts to show (space toggles, enter applies, at most 8)")
            # a metric name is a key of metrics.jsonl: `[/]` in one is no markup
            yield SelectionList[str](*[(plain(n), n, n in self.chosen) for n in self.names], id="metric-list")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    def action_done(self) -> None:
        sel = self.query_one(SelectionList).selected
        self.dismiss([n for n in self.names if n in sel][:8] or self.chosen)

    def action_cancel(self) -> None:
        self.dismiss(self.chosen)


class RunScreen(SubScreen):
    HELP_TITLE = "Run"
    HELP_TEXT = (
        "Live charts of this run (step on the x axis), its spec, health alerts and log tail.\n"
        "Long histories are drawn as min/max buckets, so spikes stay visible."
    )
    BINDINGS = [
        Binding("m", "pick_metrics", "charts"),
        Binding("left_square_bracket", "smooth(-1)", "less smoothing", key_display="["),
        Binding("right_square_bracket", "smooth(1)", "more smoothing", key_display="]"),
        Binding("c", "completions", "completions"),
        Binding("k", "checkpoints", "checkpoints"),
        Binding("a", "focus_alerts", "alerts"),
        Binding("p", "toggle_side", "side panel"),
        Binding("e", "alert_example", "alert example"),
        Binding("f", "fork", "fork"),
        Binding("r", "resume", "resume"),
        Binding("l", "switch_log", "log: stdout/stderr"),
        Binding("v", "eval_predictions", "eval predictions"),
        Binding("t", "her_targets", "HER targets (HER runs)", show=False),
    ]

    def __init__(self, view: RunView, job: Any = None) -> None:
        super().__init__()
        self.view = view
        self.job = job
        self.smoothing_i = 0
        self.alerts: list[Alert] = []
        self.chosen = self._preferred()

    def _preferred(self) -> list[str]:
        # A remote spec.json is read by the first refresh, off the UI thread (over SFTP the first
        # read also opens the connection); until then the charts are the GRPO ones.
        spec = self.view.spec if self.view.spec_read or isinstance(self.view.fs, LocalFS) else {}
        preferred = PREFERRED_BY_KIND.get(str(spec.get("kind")), PREFERRED)
        names = self.view.metrics.names()
        # none of them logged (a command job's own script): chart what the run does log
        return [m for m in preferred if m in names] or names[:4] or preferred[:]

    def body(self) -> ComposeResult:
        with Horizontal(id="run-top"):
            yield Grid(*[MetricChart(m) for m in self.chosen], id="charts")
            with Vertical(id="run-side"):
                yield Static("", id="spec-panel")  # filled by the first refresh (off the UI thread)
                yield Static("Alerts", classes="panel-title")
                yield OptionList(id="alerts")
        yield LogTail(id="log")
        yield Static("", id="run-status")

    def on_mount(self) -> None:
        self.tick()
        self.set_interval(self.app.refresh_s, self.tick)

    @work(thread=True, group="run-refresh")
    def tick(self) -> None:
        # The newest rows first; the older ones come from fill_history, started after the first
        # paint. While it reads, completions.jsonl is not indexed on: the CPU goes to the screen.
        # The first tick reads the metrics and spec alone: the charts paint without waiting for
        # the events, completions, logs and health (the next tick reads them).
        first = not getattr(self, "_alerts_read", False)
        comp_bytes = 0 if self.view.history_progress is not None else CHUNK
        changed = self.view.refresh(comp_bytes, wait=False, history=False, metrics_only=first)
        if changed is None:  # the previous refresh is still reading (slow remote host)
            return
        self._alerts_read = True
        alerts = self.view.alerts() if (first or changed & {"events", "health"} or self.view.health_pending) else None
        self.app.call_from_thread(self.apply, changed, alerts)

    @work(thread=True, exclusive=True, group="run-history")
    def fill_history(self) -> None:
        """The metrics rows before the newest ones (a long run's history), read behind the chart."""
        from textual.worker import get_current_worker

        worker = get_current_worker()

        def shown(*_: Any) -> None:
            """After each chunk: the status line's "history N%"; and while another screen covers
            this one (the completions page), wait, so the CPU goes to what is on screen."""
            if not worker.is_cancelled:
                self.app.call_from_thread(self.apply, set(), None)
            while not worker.is_cancelled and self.is_attached and self._covered():
                time.sleep(0.1)

        try:  # (another reader of the same view, the jobs table, may be loading it: this waits)
            self.view.load_history(on_chunk=shown)
        except Exception as e:  # noqa: BLE001 - the host went away: the newest rows stay on screen
            if not worker.is_cancelled:
                self.app.call_from_thread(
                    self.notify, f"history of {self.view.run_dir}: {e}", severity="warning", markup=False
                )
            return
        if self.view.history_progress is None and not worker.is_cancelled:
            self.app.call_from_thread(self.apply, {"metrics"}, None)

    def _history_after_paint(self) -> None:
        """Start fill_history once every chart has painted its rows: parsing the history is CPU
        in a worker thread, and started earlier it slows the first paint (one interpreter lock)."""
        if not self.is_attached:
            return
        if all(c.painted_points or not c.points or not c.size.area for c in self.query(MetricChart)):
            self.fill_history()
        else:
            self.set_timer(0.05, self._history_after_paint)

    def _covered(self) -> bool:
        top = self.app.screen_stack[-1] if self.app.screen_stack else self
        return top is not self and not isinstance(top, ModalScreen)

    def apply(self, changed: set[str], alerts: list[Alert] | None) -> None:
        if not self.is_attached or not self.query("#run-status"):  # gone, or being torn down
            return
        if self._covered() and getattr(self, "_spec_shown", False):
            # another screen (the completions page) is on top: draw once this one is back
            self._missed = getattr(self, "_missed", set()) | changed
            if alerts is not None:
                self._missed_alerts = alerts
            return
        if not getattr(self, "_spec_shown", False):
            self._spec_shown = True
            self.sub_title = one_line(self.view.name())
            self.query_one("#spec-panel", Static).update(spec_summary(self.view))
            if self._preferred() != self.chosen and not getattr(self, "_picked", False):
                self._set_charts(self._preferred())  # the run's kind logs other metrics (SFT, HER)
            if self.view.history_progress is not None:
                self.call_after_refresh(self._history_after_paint)  # after the redraw below
        if "metrics" in changed or not changed and not getattr(self, "_drawn", False):
            self.redraw()
        if alerts is not None and alerts != self.alerts:
            self.alerts = alerts
            self.call_after_refresh(self.redraw)  # their markers
            ol = self.query_one("#alerts", OptionList)
            ol.clear_options()
            for i, a in enumerate(alerts):
                ol.add_option(Option(alert_text(a), id=str(i)))
        # Every time, not only on "logs": the view may be shared with the jobs table, whose
        # refresh may have read the new lines first (this one then saw no change); the tail
        # writes only the lines it has not shown.
        self.query_one(LogTail).show(self._tails())
        m = self.view.metrics
        prog = self.view.progress()
        status = f"step {prog.step_text()}"
        if prog.fraction is not None:
            status += f" ({prog.fraction:.0%})"
        status += f"  {prog.rate_text()}  ETA {prog.eta_text()}"
        status += f"  rows {len(m)}  completions {len(self.view.completions)}"
        status += f"  smoothing {SMOOTHING[self.smoothing_i]:.2f}"
        if self.view.history_progress is not None:
            status += f"  history {self.view.history_progress:.0%}"
        if self.view.health_pending:
            status += f"  health: {self.view.health_pending} rows to check"
        elif self.view.health_error:
            status += f"  {self.view.health_error}"
        code = self.view.exit_code()
        if code is not None:
            status += f"  exit code {code}"
        if m.invalid:  # e.g. a her/best_pixel_score of 1.7: a gap in its chart, named here once
            status += f"  invalid: {m.invalid_note()}"
        self.query_one("#run-status", Static).update(plain(status))

    def on_screen_resume(self) -> None:
        missed, self._missed = getattr(self, "_missed", set()), set()
        alerts, self._missed_alerts = getattr(self, "_missed_alerts", None), None
        if missed or alerts is not None:
            self.apply(missed, alerts)

    def _tails(self) -> dict[str, Any]:
        return {"stdout": self.view.stdout, "stderr": self.view.stderr}

    def action_eval_predictions(self) -> None:
        from arcctl.tui.screens.eval_view import EvalScreen

        self.app.push_screen(EvalScreen(self.view))

    def action_switch_log(self) -> None:
        self.query_one(LogTail).switch(self._tails())

    def redraw(self) -> None:
        self._drawn = True
        from jobs.overlay import markers

        marks = markers(self.view, alerts=self.alerts)  # the alerts the last refresh read
        for chart in self.query(MetricChart):
            chart.draw(self.view.metrics, SMOOTHING[self.smoothing_i], marks)

    def on_resize(self) -> None:
        self.call_after_refresh(self.redraw)

    # -- actions -----------------------------------------------------------------------
    def action_pick_metrics(self) -> None:
        def done(chosen: list[str] | None) -> None:
            if chosen and chosen != self.chosen:
                self._picked = True
                self._set_charts(chosen)

        self.app.push_screen(MetricPicker(self.view.metrics.names() or PREFERRED, self.chosen), done)

    def _set_charts(self, chosen: list[str]) -> None:
        self.chosen = chosen
        grid = self.query_one("#charts", Grid)
        grid.remove_children()
        grid.mount_all([MetricChart(m) for m in chosen])
        self.call_after_refresh(self.redraw)

    def action_smooth(self, delta: int) -> None:
        self.smoothing_i = max(0, min(len(SMOOTHING) - 1, self.smoothing_i + delta))
        self.redraw()
        self.apply(set(), None)

    def action_completions(self) -> None:
        from arcctl.tui.screens.completions import CompletionsScreen

        self.app.push_screen(CompletionsScreen(self.view))

    def action_checkpoints(self) -> None:
        from arcctl.tui.screens.checkpoints import CheckpointsScreen

        self.app.push_screen(CheckpointsScreen(self.view))

    def side_shown(self) -> bool:
        return self.query_one("#run-side").display

    def action_toggle_side(self) -> None:
        self.query_one("#run-side").toggle_class("-toggled")

    def action_focus_alerts(self) -> None:
        if not self.side_shown():
            self.action_toggle_side()  # alerts live in the side panel: open it
        ol = self.query_one("#alerts", OptionList)
        ol.focus()
        if ol.option_count and ol.highlighted is None:
            ol.highlighted = 0

    def action_alert_example(self) -> None:
        """The completion that triggered the highlighted (or first) alert."""
        if not self.alerts:
            self.notify("no alerts for this run")
            return
        ol = self.query_one("#alerts", OptionList)
        alert = self.alerts[ol.highlighted or 0]
        if not alert.example_ids:
            self.notify(f"alert {alert.rule} names no example completion", severity="warning", markup=False)
            return
        from arcctl.tui.screens.completions import CompletionsScreen

        self.app.push_screen(CompletionsScreen(self.view, focus_id=alert.example_ids[0]))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id == "alerts":
            self.action_alert_example()

    def action_fork(self) -> None:
        if not self.app.allowed("fork"):
            return
        from arcctl.tui.screens.checkpoints import CheckpointsScreen

        self.app.push_screen(CheckpointsScreen(self.view))

    def action_resume(self) -> None:
        self.action_fork()

    def action_her_targets(self) -> None:
        if (self.view.spec or {}).get("kind") != "her":
            self.notify("not a HER run: the per-target table is for HER jobs")
            return
        from arcctl.tui.screens.her import HERScreen

        self.app.push_screen(HERScreen(self.view))
