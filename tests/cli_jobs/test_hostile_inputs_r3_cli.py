"""A command job whose program is empty: `arcctl submit command -- "$SCRIPT" --lr 1e-5` with SCRIPT
unset rendered and submitted a job that could only fail to start (exec of ''), after waiting for
its GPUs; a template with entry = ["", ...] the same."""

from __future__ import annotations

import pytest

from jobs.errors import SpecError
from jobs.submit import build_specs
from tests.cli_jobs.conftest import one_line_error, run_cli, tree

pytestmark = pytest.mark.timeout(120)


def test_an_empty_program_is_refused(home):
    before = tree(home)
    one_line_error(run_cli("submit", "command", "--", "", "--lr", "1e-5"), "the program of the command is empty")
    assert tree(home) == before
    with pytest.raises(SpecError, match="the program of the command is empty"):
        build_specs("command", [], "local", command=["  ", "x"])
    tpl = home.parent / "config" / "templates" / "blank.toml"
    tpl.write_text('[template]\nkind = "command"\nname = "blank"\nentry = ["", "train.py"]\n')
    with pytest.raises(SpecError, match="the program of the command is empty"):
        build_specs("blank", [], "local")
    build_specs("command", [], "local", command=["echo", ""])  # an empty argument is fine
