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


@pytest.mark.parametrize("value", ["./out/checkpoint-100", "../models/tiny", "~/models/tiny"])
@pytest.mark.parametrize("key", ["model_path", "adapter_path"])
def test_a_model_path_the_job_cannot_see_is_refused(home, key, value):
    """Every backend starts the job in its run dir and the trainer expands no `~`: a relative or
    `~` model/adapter path rendered fine and the job stopped at model load, after its queue wait
    (`org/name` hub ids and absolute paths, which may exist only where the job runs, pass)."""
    with pytest.raises(SpecError, match=f"{key} {value}: .*give the absolute path"):
        build_specs("eval", ["dataset=arc1/eval", f"{key}={value}"], "local")
    build_specs("eval", ["dataset=arc1/eval", f"{key}=org/name"], "local")
    build_specs("eval", ["dataset=arc1/eval", f"{key}=/only/on/the/cluster"], "local")
