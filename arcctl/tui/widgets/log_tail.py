"""The last lines of stdout/stderr, appended as the trainer writes them."""
from __future__ import annotations

from textual.widgets import RichLog

from jobs.rundir import TextTail


class LogTail(RichLog):
    DEFAULT_CSS = "LogTail { height: 1fr; }"

    def __init__(self, **kw) -> None:
        super().__init__(max_lines=1000, wrap=False, markup=False, highlight=False, **kw)
        self._shown: dict[str, int] = {}

    def show(self, tails: dict[str, TextTail]) -> None:
        """Write the lines not shown yet; stderr lines are prefixed so they stand out."""
        for name, tail in tails.items():
            new = min(tail.total - self._shown.get(name, 0), len(tail.lines))
            if new > 0:
                for line in tail.lines[-new:]:
                    self.write(f"{'! ' if name == 'stderr' else ''}{line}")
            self._shown[name] = tail.total
