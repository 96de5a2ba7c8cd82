"""Command-line values that were taken as given: `--timeout nan` (doctor: a traceback from the
selector; hosts: 'ValueError: Invalid value NaN' per host), negative or infinite timeouts, an
`ls --state` typo that listed nothing as if no job had that state, `ls -n` past SQLite's integers."""

from __future__ import annotations

import pytest

from tests.cli_jobs.conftest import one_line_error, run_cli

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("cmd", [["doctor", "local"], ["hosts", "127.0.0.1"]])
@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_timeouts_must_be_a_sensible_number_of_seconds(home, cmd, value):
    res = run_cli(*cmd, "--timeout", value)
    assert res.returncode == 2 and "Invalid value for '--timeout'" in res.stderr, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout


def test_ls_state_typo_is_named(home):
    run_cli("submit", "fake", "-q", check=True)
    one_line_error(run_cli("ls", "--state", "runing"), "--state 'runing'", "running")
    listed = run_cli("ls", "--state", "completed", "--state", "completed", "--state", "running", check=True)
    assert "fake_lr1e-6" in listed.stdout


def test_ls_limit_past_sqlite_integers_is_a_usage_error(home):
    res = run_cli("ls", "-n", str(10**20))
    assert res.returncode == 2 and "Invalid value for '-n'" in res.stderr, res.stderr
