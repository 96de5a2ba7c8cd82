"""Round 5: CLI values. An empty value (an unset shell variable) must not change what a command
does: `compare --plot ""` printed the eval table, `--match ""` chose every job."""

from __future__ import annotations

import pytest

from tests.cli_jobs.conftest import one_line_error, run_cli

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("option", ["--plot", "--match", "--group"])
def test_an_empty_plot_match_or_group_is_refused(home, tmp_path, option):
    """`--plot "$METRIC"` with the variable unset printed the eval table instead of a chart;
    `--match ""` chose every job of the registry."""
    args = (
        ["compare", str(tmp_path), "--plot", "reward", option, ""]
        if option != "--plot"
        else ["compare", str(tmp_path), "--plot", ""]
    )
    one_line_error(run_cli(*args), f"{option} '': empty")


@pytest.mark.parametrize("command", ["render", "submit"])
def test_an_empty_run_dir_is_refused_not_replaced_by_the_default(home, command):
    """`--run-dir "$UNSET"` rendered and submitted into the default run dir without a word."""
    one_line_error(run_cli(command, "fake", "--run-dir", ""), "--run-dir ''", "empty")
    one_line_error(run_cli(command, "fake", "--run-dir", "  "), "--run-dir '  '", "empty")
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())
    one_line_error(run_cli(command, "fake", "--name", ""), "--name ''", "one folder name")
