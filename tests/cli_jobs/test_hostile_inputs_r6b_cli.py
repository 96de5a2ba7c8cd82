"""Round 6b: CLI option values. An integer option out of range or not an integer (`ls -n -1`,
`compare --height 1e9`, `-n abc`, `--max-points 0`) got click's usage box; `tail -n 10**21` was
taken. `tail` of a run whose metrics.jsonl / events.jsonl is a named pipe or a device printed
nothing and exited 0, as for a run that has not logged yet."""

from __future__ import annotations

import os
import typing

import pytest
import typer

from tests.cli_jobs.conftest import one_line_error, run_cli

pytestmark = pytest.mark.timeout(120)

# Every int option of every command, with what the command needs before it (its range in the id).
INT_OPTIONS = [
    ["ls", "-n"],
    ["logs", "x", "-n"],
    ["tail", "x", "-n"],
    ["compare", "x", "--width"],
    ["compare", "x", "--height"],
    ["render", "grpo", "--max-points"],
    ["submit", "grpo", "--max-points"],
    ["refine-data", "x", "--per-task"],
    ["demo", "--steps"],
    ["demo", "--sft-steps"],
]


def _named(cmd: list[str]) -> str:
    """The flag as the error line names it: every spelling of the option (`-n/--limit`)."""
    flag = cmd[-1]
    if flag == "-n":
        return "-n/--limit" if cmd[0] == "ls" else "-n/--lines"
    return flag


@pytest.mark.parametrize("cmd", INT_OPTIONS, ids=lambda c: f"{c[0]}{c[-1]}")
@pytest.mark.parametrize("value", ["-1", "abc", "1e9", "", "2.5", "nan", "9" * 40, "1000000001", "١٢", "0x10"])
def test_every_int_option_refuses_a_bad_value_in_one_line_with_its_range(home, cmd, value):
    err = one_line_error(run_cli(*cmd, value), f"{_named(cmd)} '{value}'")
    assert "Usage" not in err and " to " in err  # the allowed range is named


@pytest.mark.parametrize(
    "cmd, value, range_",
    [
        (["ls", "-n"], "-1", "from 0 to 1000000000"),
        (["compare", "x", "--height"], "5", "from 6 to 200"),
        (["compare", "x", "--width"], "1001", "from 40 to 1000"),
        (["render", "grpo", "--max-points"], "0", "from 1 to 1000000000"),
        (["tail", "x", "--lines"], "1" + "0" * 21, "from 0 to 1000000000"),
    ],
)
def test_the_line_names_the_allowed_range(home, cmd, value, range_):
    one_line_error(run_cli(*cmd, value), range_)


def test_an_int_option_in_range_still_works(home, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(f'{{"step": {i}, "loss": 0.5}}\n' for i in range(5)))
    res = run_cli("tail", str(run), "-n", " 2", check=True)
    assert [ln.split()[1] for ln in res.stdout.splitlines()] == ["3", "4"]
    assert run_cli("tail", str(run), "--lines", "+0", check=True).stdout.count("\n") == 5
    assert run_cli("ls", "-n", "0", "--no-refresh", check=True).returncode == 0


def _int_options() -> tuple[list[str], list[str]]:
    """(checked, unchecked) int options of every command, from typer's own description of them."""
    from arcctl.cli.main import app

    checked, unchecked = [], []
    commands = list(typer.main.get_command(app).commands.items())
    while commands:
        name, cmd = commands.pop()
        commands += [(f"{name} {n}", c) for n, c in getattr(cmd, "commands", {}).items()]
        for p in cmd.params:
            td = p.type_descriptor
            if int in (td.annotation, *typing.get_args(td.annotation)):
                (checked if td.parameter_info.parser is not None else unchecked).append(f"{name} {p.opts[0]}")
    return checked, unchecked


def test_no_command_has_an_int_option_outside_the_checked_parser():
    """Every int option goes through arcctl.cli.numbers.whole: one declared with typer's int type
    (min=, max=) would write click's usage box again."""
    checked, unchecked = _int_options()
    assert not unchecked
    assert sorted(f"{c[0]} {c[-1]}" for c in INT_OPTIONS) == sorted(checked)  # and the list above is complete


@pytest.mark.parametrize(
    "fname, flag", [("metrics.jsonl", None), ("events.jsonl", "--events"), ("completions.jsonl", "--completions")]
)
@pytest.mark.parametrize("what", ["fifo", "device"])
@pytest.mark.parametrize("follow", [False, True])
def test_tail_names_a_run_file_that_is_a_fifo_or_a_device(home, tmp_path, fname, flag, what, follow):
    """It printed nothing and exited 0 (a FIFO and /dev/null have size 0): a run that never logs."""
    run = tmp_path / "run"
    run.mkdir()
    if what == "fifo":
        os.mkfifo(run / fname)
    else:
        (run / fname).symlink_to("/dev/null")
    args = ["tail", str(run), *([flag] if flag else []), *(["-f", "--max-seconds", "0.2"] if follow else [])]
    one_line_error(run_cli(*args), f"{run}/{fname}: not a regular file")


def test_tail_of_an_empty_regular_file_is_still_quiet(home, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("")
    res = run_cli("tail", str(run), check=True)
    assert res.stdout == "" and res.stderr == ""
