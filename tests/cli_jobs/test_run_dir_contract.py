"""The run-dir contract (jobs/records.py, docs/run-dir.md): what the real trainer wrote validates,
what does not match is refused at write time with the file and the field named, and every field
of every record type is documented in the repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from jobs import records, rundir
from jobs.completions import Completion
from trainer.runfiles import RunFiles

REPO = Path(__file__).resolve().parents[2]
# Written by the real trainer (GRPO on the tiny model, CPU) with the guard on; see their README.
REAL_RUNS = sorted((REPO / "tests" / "health" / "traces").glob("real_tiny_*"))


def test_real_trainer_run_dirs_validate():
    assert REAL_RUNS
    for run in REAL_RUNS:
        assert records.check_run_dir(str(run)) == []
        kinds = {e["event"] for e in rundir.read_jsonl(run / rundir.EVENTS)}
        assert {"started", "checkpoint_saved", "collapse_warning", "stopped"} <= kinds


def test_a_misspelled_field_is_refused_with_the_file_and_field(tmp_path):
    files = RunFiles(tmp_path, enabled=True)
    with pytest.raises(ValueError, match=r"events.jsonl: .*stopped.reson: Extra inputs"):
        files.event(records.EV_STOPPED, reson="completed")
    with pytest.raises(ValueError, match="'alert'"):
        files.event("alert", rule="entropy")
    good = json.loads((REPO / "tests/health/traces/real_tiny_cpu_lr1e-2/completions.jsonl").read_text().splitlines()[0])
    with pytest.raises(ValueError, match=r"completions.jsonl: .*error: Input should be 'parse'"):
        files.completions([{**good, "error": "segfault"}])
    with pytest.raises(ValueError, match="n_tokens: Field required"):
        files.completions([{k: v for k, v in good.items() if k != "n_tokens"}])
    files.completions([good])
    files.metric(3, {"reward": 0.5, "kl": None, "note": "text", "flag": True})
    files.close()
    assert not (tmp_path / rundir.EVENTS).exists()  # nothing refused was written
    [row] = rundir.read_jsonl(tmp_path / rundir.METRICS)
    assert row["step"] == 3 and row["reward"] == 0.5 and row["kl"] is None
    assert "note" not in row and "flag" not in row  # only numbers are metrics
    assert records.check_run_dir(str(tmp_path)) == []


def test_check_run_dir_names_each_bad_line(tmp_path):
    (tmp_path / rundir.EVENTS).write_text(
        '{"event": "started", "time": 1, "pid": 1, "host": "h", "argv": []}\n{"event": "stopped", "time": 2}\n[1]\n'
    )
    problems = records.check_run_dir(str(tmp_path))
    assert len(problems) == 2
    assert problems[0].endswith("events.jsonl:2: stopped.reason: Field required")
    assert problems[1].endswith("events.jsonl:3: not a JSON object")


def test_the_started_event_carries_the_format_version(tmp_path):
    files = RunFiles(tmp_path, enabled=True)
    files.started(kind="grpo", step=0)
    files.close()
    [ev] = rundir.read_jsonl(tmp_path / rundir.EVENTS)
    assert ev["run_dir_version"] == records.RUN_DIR_VERSION and ev["pid"] > 0


def test_readers_use_the_contract_spelling():
    obj = json.loads((REPO / "tests/health/traces/real_tiny_cpu_lr1e-2/completions.jsonl").read_text().splitlines()[0])
    c = Completion.from_obj(0, obj)
    assert (c.id, c.step, c.task, c.tokens, c.truncated) == (
        obj["id"],
        obj["step"],
        obj["task_id"],
        obj["n_tokens"],
        obj["truncated"],
    )
    assert c.text == obj["completion"] and c.diagnostics["ngram4_repeat_max"] == obj["diag"]["ngram4_repeat_max"]
    # another spelling is not read as the same thing
    other = Completion.from_obj(1, {"text": "x", "tokens": 5, "task": "t"})
    assert (other.text, other.tokens, other.task) == ("", None, "")


def _fields(model: type[BaseModel]) -> set[str]:
    out = set(model.model_fields)
    for f in model.model_fields.values():
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel):
            out |= _fields(f.annotation)
    return out


def test_every_field_is_documented():
    doc = (REPO / "docs" / "run-dir.md").read_text()
    types = [records.MetricRow, records.CompletionRecord, *records.Event.__origin__.__args__]
    missing = {f"{t.__name__}.{name}" for t in types for name in _fields(t) if f"`{name}`" not in doc}
    assert not missing, sorted(missing)
    for kind in records.EVENT_KINDS + records.ERROR_KINDS:
        assert f"`{kind}`" in doc, kind
