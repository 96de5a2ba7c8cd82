"""Round 5: a registry file that is no registry. A pipe, a folder or a link to /dev/zero in its
place was "disk I/O error" / "unable to open database file"; a file of random bytes or a database
of other tables was named without what to do. Each is now one line that says what the file is
and to move it aside, for every command that opens the registry."""

from __future__ import annotations

import os
import sqlite3

import pytest

from tests.cli_jobs.conftest import one_line_error, run_cli

pytestmark = pytest.mark.timeout(120)


def _db(home, *sql: str) -> None:
    db = sqlite3.connect(home / "registry.sqlite")
    for s in sql:
        db.execute(s)
    db.commit()
    db.close()


@pytest.mark.parametrize("what", ["pipe", "folder", "devzero"])
def test_a_registry_that_is_not_a_regular_file_is_named(home, what):
    home.mkdir(exist_ok=True)
    path = home / "registry.sqlite"
    {"pipe": os.mkfifo, "folder": os.mkdir, "devzero": lambda p: os.symlink("/dev/zero", p)}[what](path)
    for args in (["ls"], ["show", "x"], ["submit", "fake"]):
        one_line_error(run_cli(*args), f"registry {path}: not a regular file", "move it aside")


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda home: (home / "registry.sqlite").write_bytes(os.urandom(50_000)), "the file is damaged"),
        (lambda home: _db(home, "create table x(a)", "pragma user_version=1"), "not a registry of this arcctl"),
        (lambda home: _db(home, "create table jobs(id)", "pragma user_version=1"), "not a registry of this arcctl"),
    ],
)
def test_a_registry_of_other_bytes_or_tables_says_to_move_it_aside(home, make, needle):
    home.mkdir(exist_ok=True)
    make(home)
    for args in (["ls"], ["ls", "--json"], ["show", "x"]):
        one_line_error(run_cli(*args), f"registry {home / 'registry.sqlite'}", needle, "move it aside")
