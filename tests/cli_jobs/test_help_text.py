"""`arcctl --help` lists each command on wrapped lines of its own first docstring paragraph,
not on the docstring's hard line breaks."""

import os
import subprocess
import sys


def test_command_list_rewraps_multi_line_docstrings():
    env = {**os.environ, "COLUMNS": "240", "NO_COLOR": "1", "TERM": "dumb"}
    out = subprocess.run(
        [sys.executable, "-m", "arcctl.cli.main", "--help"], env=env, capture_output=True, text=True, check=True
    ).stdout
    # `resume` and `compare` have docstrings whose first paragraph spans two source lines
    assert "from a checkpoint; after a memory hold it asks for more memory." in out
    assert "in bold. With --plot METRIC: that training metric of every RUN" in out
    from arcctl.cli.main import app

    for info in app.registered_commands:
        assert info.short_help is None or "\n" not in info.short_help, info.name
