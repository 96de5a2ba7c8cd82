"""The dashboard app: `arcctl` (jobs screen) or `arcctl tail RUN_DIR`-like direct opening of a run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterable

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from arcctl.tui.data import JobSource
from arcctl.tui.screens.base import described_bindings


class ScreenCommands(Provider):
    """The `:` palette lists the key actions of the screen it was opened on (not the palette's own
    bindings: the palette is itself a screen), so every action is findable and runnable by name."""

    def _commands(self) -> Iterable[tuple[str, str, str]]:
        for b in described_bindings(self.screen):  # the screen under the palette
            if b.action in ("command_palette", "quit"):  # Textual's own commands list these
                continue
            key = b.key_display or b.key.split(",")[0]
            yield b.description, b.action, key

    async def discover(self) -> Hits:
        for desc, action, key in self._commands():
            yield DiscoveryHit(f"{desc}  ({key})", self._runner(action), help=action)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for desc, action, key in self._commands():
            # the description ("fork from it") or the action's name ("fork", "goto_step")
            score = max(matcher.match(desc), matcher.match(action.split("(")[0].split(".")[-1]))
            if score > 0:
                yield Hit(score, matcher.highlight(f"{desc}  ({key})"), self._runner(action), help=action)

    def _runner(self, action: str):
        screen = self.screen

        async def run() -> None:
            await screen.run_action(action)

        return run


# How long a thread may hold the interpreter lock while another waits for it (Python's default:
# 5 ms). The dashboard's workers wait on the network in many small steps (each SFTP answer is
# handed from paramiko's transport thread to the reader), and each step waits for the lock
# again; while the UI thread builds a screen that cost up to 5 ms a step: the login and first
# reads of a remote run took ~0.7 s instead of ~0.2 s on a 2-core VM.
SWITCH_INTERVAL_S = 0.001


class ArcApp(App):
    CSS_PATH = "app.tcss"
    # Screens get a -narrow class below 120 columns (app.tcss collapses side panels there).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    TITLE = "arcctl"
    COMMANDS = App.COMMANDS | {ScreenCommands}
    BINDINGS = [
        Binding("ctrl+p", "command_palette", "palette", show=False, priority=True),
        Binding("colon", "command_palette", "palette", key_display=":"),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(
        self,
        readonly: bool = False,
        run_dir: str | None = None,
        source: JobSource | None = None,
        refresh_s: float = 0.25,
        host: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.readonly = readonly
        self.run_dir = run_dir
        self.host = host  # run_dir lives on this ssh host (read through SFTP)
        self.refresh_s = refresh_s
        self.source = source or JobSource.open_default([run_dir] if run_dir and not host else None)
        if readonly:
            self.sub_title = "read-only"

    def on_load(self) -> None:
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(SWITCH_INTERVAL_S, self._switch_interval))

    def on_unmount(self) -> None:
        sys.setswitchinterval(getattr(self, "_switch_interval", sys.getswitchinterval()))

    def on_mount(self) -> None:
        from arcctl.tui.screens.jobs import JobsScreen

        self.push_screen(JobsScreen())
        if self.run_dir:
            from arcctl.tui.screens.run import RunScreen

            self.push_screen(RunScreen(self.source.view(self.run_dir, self.host)))

    def allowed(self, what: str) -> bool:
        """Every state-changing action asks first; in read-only mode it says why nothing happens."""
        if self.readonly:
            self.notify(
                f"read-only dashboard: {what} is disabled (started with --readonly)",
                severity="warning",
                title="read-only",
            )
            return False
        return True

    def action_help(self) -> None:
        from arcctl.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))


def run_dashboard(readonly: bool, run_dir: str | None = None, host: str | None = None) -> None:
    if run_dir is not None and host is None and not Path(run_dir).is_dir():
        from arcctl.cli.errors import fail

        raise fail(f"{run_dir}: not a run directory")
    ArcApp(readonly=readonly, run_dir=run_dir, host=host).run()
