"""`arcctl health` exits 2 ("could not look") for a folder that is no run dir and for a spec.json it
cannot make sense of; it used to judge both with default thresholds and say HEALTHY, exit 0."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from arcctl.cli.main import app

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCCTL_HOME", str(tmp_path / "home"))


def health(path):
    return CliRunner().invoke(app, ["health", str(path)])


def test_a_folder_with_no_spec_and_no_metrics_is_no_run(tmp_path):
    res = health(tmp_path)
    assert res.exit_code == 2, res.output
    assert res.output.strip() == f"error: {tmp_path}: not a run dir (no spec.json and no metrics.jsonl)"


@pytest.mark.parametrize(
    "text, why",
    [
        ("xx", "Expecting value: line 1 column 1 (char 0)"),
        ("[1", "Expecting ',' delimiter: line 2 column 1 (char 3)"),
        ("[" * 100_000, "JSON nested too deeply"),
        ("[]", "not a JSON object with a params object"),
        ('"grpo"', "not a JSON object with a params object"),
        ('{"kind": "grpo", "params": [1]}', "not a JSON object with a params object"),
    ],
)
def test_a_spec_it_cannot_make_sense_of_is_exit_2(tmp_path, text, why):
    (tmp_path / "spec.json").write_text(text + "\n")
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 1, "reward": 0.5}) + "\n")
    res = health(tmp_path)
    assert res.exit_code == 2, res.output
    assert res.output.strip() == f"error: {tmp_path}/spec.json: {why}; cannot judge this run"


def test_a_new_run_and_a_foreign_metrics_folder_are_still_judged(tmp_path):
    new = tmp_path / "new"
    new.mkdir()
    (new / "spec.json").write_text(json.dumps({"kind": "grpo", "params": {}}))
    res = health(new)
    assert res.exit_code == 0 and "status: HEALTHY" in res.output and "(no metrics yet)" in res.output
    foreign = tmp_path / "foreign"  # metrics without a spec (another writer): default thresholds, a note
    foreign.mkdir()
    (foreign / "metrics.jsonl").write_text(json.dumps({"step": 1, "reward": 0.5}) + "\n")
    res = health(foreign)
    assert res.exit_code == 0, res.output
    assert f"note: {foreign}/spec.json: missing or unreadable" in res.output
