"""`arcctl submission validate/build` given a FIFO, a folder or a device where a file should be:
the line names what is there (never "not found" for something that exists) and nothing blocks
on the FIFO (no writer ever comes)."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from arcctl.cli.main import app
from jobs import kaggle_submission as S

pytestmark = pytest.mark.timeout(60)  # a blocked FIFO open would hang here, not pass
runner = CliRunner()
CHALLENGES = {"t1": {"train": [], "test": [{"input": [[0]]}]}}
SUB = {"t1": [{"attempt_1": [[1]], "attempt_2": [[0]]}]}


def _odd(tmp_path, kind):
    p = tmp_path / f"odd.{kind}.json"
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "folder":
        p.mkdir()
    else:
        p.symlink_to("/dev/null")
    return p, {"fifo": "a named pipe (FIFO)", "folder": "a folder", "device": "a device"}[kind]


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_validate_file_names_what_is_there(tmp_path, kind):
    ds = tmp_path / "c.json"
    ds.write_text(json.dumps(CHALLENGES))
    odd, named = _odd(tmp_path, kind)
    with pytest.raises(S.SubmissionError) as e:
        S.validate_file(odd, str(ds))
    assert named in str(e.value) and "not found" not in str(e.value)
    # as the dataset: the same
    good = tmp_path / "s.json"
    good.write_text(json.dumps(SUB))
    with pytest.raises(S.SubmissionError) as e:
        S.validate_file(good, str(odd))
    assert named in str(e.value) and "not found" not in str(e.value)
    r = runner.invoke(app, ["submission", "validate", str(good), "--dataset", str(odd)])
    assert r.exit_code == 2 and named in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_build_names_what_is_there(tmp_path, kind):
    run = tmp_path / "evalrun"
    (run / "eval").mkdir(parents=True)
    metrics = run / "eval" / "metrics.json"
    odd, named = _odd(tmp_path, kind)
    os.rename(odd, metrics)
    r = runner.invoke(app, ["submission", "build", str(run)])
    assert r.exit_code == 2 and named in r.output and "not found" not in r.output, r.output
    # a good metrics.json and a FIFO/folder/device as predictions.jsonl: named, not all placeholders
    os.rename(metrics, run / "eval" / "predictions.jsonl")
    metrics.write_text(json.dumps({"task_tests": {"t1": 1}}))
    r = runner.invoke(app, ["submission", "build", str(run)])
    assert r.exit_code == 2 and named in r.output and "predictions.jsonl" in r.output, r.output
    assert not (run / "submission.json").exists()


def test_read_json_never_blocks_on_a_fifo_swapped_in(tmp_path):
    """The check and the read are two steps: a FIFO there at the read fails at once."""
    fifo = tmp_path / "s.json"
    os.mkfifo(fifo)
    with pytest.raises(OSError):
        S._read_json(fifo)
