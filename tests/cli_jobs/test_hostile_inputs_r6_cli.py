"""Round 6: CLI values. A name regex that backtracks for ever (`--match '(a|aa)+$'` against a long
name froze `arcctl compare`: Python's `re` has no timeout); `nan` / `inf` for a float option got
click's usage box (`--poll nan`: "less than or equal to 3600") or was taken (`--max-seconds inf`)."""

from __future__ import annotations

import time
import typing

import pytest
import typer

from jobs.registry import Registry
from jobs.spec import JobSpec
from tests.cli_jobs.conftest import one_line_error, run_cli

pytestmark = pytest.mark.timeout(120)

# Exponential in `re` on a name of a's that ends in another character: 2^40 paths.
EVIL = "(a|aa)+$"
LONG_NAME = "a" * 40 + "-x"


def _registry_with(home, *names: str) -> None:
    reg = Registry()
    for n in names:
        spec = JobSpec(
            kind="grpo", name=n, template="grpo", params={"model_path": "m", "dataset": "d"}, run_dir=f"/r/{n}"
        )
        reg.set_state(reg.reserve(spec), "completed", exit_code=0)
    reg.close()


def test_a_backtracking_match_regex_is_one_line_not_a_freeze(home):
    _registry_with(home, "fake_lr1e-6", LONG_NAME)
    t0 = time.monotonic()
    res = run_cli("compare", "--plot", "reward", "--match", EVIL, timeout=30)
    err = one_line_error(res, f"--match '{EVIL}'", "backtracks")
    assert "(a+)+" in err  # says what to avoid
    assert time.monotonic() - t0 < 15  # the budget (1 s) plus the start of the command


def test_the_budget_is_shared_by_all_names():
    """Many names each a little slow add up to the one budget, not a budget per name."""
    from jobs.compare_select import SlowRegex, name_regex, name_searcher

    hit = name_searcher(name_regex("(a|aa)+$"), "--match", budget_s=0.3)
    t0 = time.monotonic()
    with pytest.raises(SlowRegex):
        for _ in range(1000):
            hit("a" * 22 + "-")
    assert time.monotonic() - t0 < 0.3 + 2.0
    long = "(a|aa)+$" + "|zzz" * 25_000  # pasted: the error quotes its start
    with pytest.raises(SlowRegex) as e:
        name_searcher(name_regex(long), "filter", budget_s=0.3)("a" * 40 + "-")
    assert len(str(e.value)) < 500 and "(100008 characters)" in str(e.value)


def test_ordinary_regexes_still_choose_jobs():
    from jobs.compare_select import MATCH_BUDGET_S, select_jobs

    class J:
        def __init__(self, name, created):
            self.name, self.created, self.id, self.spec_json = name, created, name, "{}"

    jobs = [J("grpo_lr3e-6_a", 1), J("grpo_lr4e-6_b", 2), J(LONG_NAME, 3)]
    assert [j.name for j in select_jobs(jobs, match="_LR[34]E-6_")] == ["grpo_lr3e-6_a", "grpo_lr4e-6_b"]
    assert [j.name for j in select_jobs(jobs, match=r"^a+-x$")] == [LONG_NAME]
    assert MATCH_BUDGET_S <= 2  # a person waits this long at most


FLOAT_OPTIONS = [
    ["logs", "x", "--poll"],
    ["logs", "x", "--max-seconds"],
    ["tail", "x", "--poll"],
    ["tail", "x", "--max-seconds"],
    ["doctor", "local", "--timeout"],
    ["hosts", "127.0.0.1", "--timeout"],
]


@pytest.mark.parametrize("cmd", FLOAT_OPTIONS, ids=lambda c: f"{c[0]}{c[-1]}")
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "1e400", "abc", ""])
def test_every_float_option_refuses_nan_and_inf_in_one_line(home, cmd, value):
    err = one_line_error(run_cli(*cmd, value), f"{cmd[-1]} '{value}'")
    assert "Usage" not in err


def test_a_float_option_in_range_still_works(home, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "stdout.log").write_text("one\ntwo\n")
    res = run_cli("logs", str(run), "-f", "--poll", "0.05", "--max-seconds", "0.2", check=True)
    assert res.stdout == "one\ntwo\n"


def _float_options() -> tuple[list[str], list[str]]:
    """(checked, unchecked) float options of every command, from typer's own description of them."""
    from arcctl.cli.main import app

    checked, unchecked = [], []
    root = typer.main.get_command(app)
    commands = [(n, c) for n, c in root.commands.items()]
    while commands:
        name, cmd = commands.pop()
        commands += [(f"{name} {n}", c) for n, c in getattr(cmd, "commands", {}).items()]
        for p in cmd.params:
            td = p.type_descriptor
            if float in (td.annotation, *typing.get_args(td.annotation)):
                (checked if td.parameter_info.parser is not None else unchecked).append(f"{name} {p.opts[0]}")
    return checked, unchecked


def test_no_command_has_a_float_option_outside_the_checked_parser():
    """Every float option of every command goes through arcctl.cli.numbers.finite: a new one
    declared with typer's float type would let nan into its usage box again."""
    checked, unchecked = _float_options()
    assert not unchecked
    assert sorted(" ".join(c[::2]) for c in FLOAT_OPTIONS) == sorted(checked)  # and the list above is complete


@pytest.mark.parametrize("what", ["folder", "fifo", "device"])
def test_submission_validate_names_what_is_there_instead_of_not_found(home, tmp_path, what):
    """A folder, a named pipe or /dev/zero was 'not found'."""
    import os

    path = {"folder": tmp_path, "device": "/dev/zero"}.get(what) or tmp_path / "fifo"
    if what == "fifo":
        os.mkfifo(path)
    err = one_line_error(run_cli("submission", "validate", str(path), "-d", "arc1/eval"), str(path))
    assert "not found" not in err
    assert {"folder": "a folder", "fifo": "a named pipe (FIFO)", "device": "a device"}[what] in err


def test_hosts_cuts_a_line_that_quotes_a_huge_host_name(home):
    """`hosts` of a 100,000-character name wrote one line of 400 KB (the name, its address and the
    error quoting it); such a name is now refused before any lookup (no DNS name is that long), in
    one line that quotes it cut."""
    res = run_cli("hosts", "h" * 100_000, "--timeout", "2")
    err = one_line_error(res, "100000 characters", "253")
    assert err.count("h") < 100 and len(err) < 4100 and res.stdout == ""
