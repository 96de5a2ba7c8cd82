"""A run dir on this machine: a file that is a symbolic link loop is one error naming it (it read as
"not written yet", and `tail --follow` waited for it forever), a dangling link still reads as not
written yet, and a sparse 20 GB spec.json is refused by its size instead of read into memory."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from arcctl.cli.main import app
from jobs.runfs import LocalFS, read_regular_text

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCCTL_HOME", str(tmp_path / "home"))
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.json").write_text(json.dumps({"kind": "grpo", "params": {}}))
    return run


def cli(*args):
    return CliRunner().invoke(app, list(args))


def test_a_link_loop_is_one_error_naming_it(run):
    os.symlink(run / "b", run / "metrics.jsonl")
    os.symlink(run / "metrics.jsonl", run / "b")
    res = cli("tail", str(run))
    assert res.exit_code == 2, res.output
    assert res.output.strip() == f"error: {run}/metrics.jsonl: a symbolic link loop; remove or fix the link"
    res = cli("health", str(run))
    assert res.exit_code == 2 and f"{run}/metrics.jsonl: a symbolic link loop" in res.output, res.output
    with pytest.raises(OSError, match="a symbolic link loop"):
        read_regular_text(run / "metrics.jsonl")


def test_a_dangling_link_is_not_written_yet(run):
    os.symlink(run / "nowhere", run / "metrics.jsonl")
    assert LocalFS().exists(str(run / "metrics.jsonl")) is False
    res = cli("tail", str(run))
    assert res.exit_code == 0 and "no metrics.jsonl" in res.output, res.output


def test_a_sparse_20_gb_spec_is_refused_by_its_size(run):
    with open(run / "spec.json", "r+b") as f:
        f.truncate(20 << 30)
    with pytest.raises(OSError, match="larger than 256 MB, not read whole"):
        read_regular_text(run / "spec.json")
    res = cli("health", str(run))
    assert res.exit_code == 2, res.output
    assert res.output.strip() == f"error: {run}/spec.json: larger than 256 MB, not read whole; cannot judge this run"
