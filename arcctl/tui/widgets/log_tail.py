"""The last lines of stdout/stderr, appended as the trainer writes them; `l` on the run screen
switches between both streams, stdout only and stderr only."""

from __future__ import annotations

from textual.widgets import RichLog

from arcctl.tui.shown_text import log_text
from jobs.rundir import TextTail

# Which streams each mode shows; the first is the default.
MODES: dict[str, tuple[str, ...]] = {
    "stdout+stderr": ("stdout", "stderr"),
    "stdout": ("stdout",),
    "stderr": ("stderr",),
}


class LogTail(RichLog):
    DEFAULT_CSS = "LogTail { height: 1fr; }"

    def __init__(self, **kw) -> None:
        super().__init__(max_lines=1000, wrap=False, markup=False, highlight=False, **kw)
        self._shown: dict[str, int] = {}
        self.mode = next(iter(MODES))
        self.border_title = f"log: {self.mode} (l switches)"

    def show(self, tails: dict[str, TextTail]) -> None:
        """Write the lines not shown yet; with both streams, stderr lines are prefixed with '! '."""
        streams = MODES[self.mode]
        for name, tail in tails.items():
            new = min(tail.total - self._shown.get(name, 0), len(tail.lines))
            if new > 0 and name in streams:
                prefix = "! " if name == "stderr" and len(streams) > 1 else ""
                for line in tail.lines[-new:]:
                    self.write(log_text(f"{prefix}{line}"))
            self._shown[name] = tail.total

    def switch(self, tails: dict[str, TextTail]) -> str:
        """The next mode: the log is rewritten from the lines each tail keeps."""
        names = list(MODES)
        self.mode = names[(names.index(self.mode) + 1) % len(names)]
        self.border_title = f"log: {self.mode} (l switches)"
        self.clear()
        self._shown = {}
        self.show(tails)
        return self.mode
