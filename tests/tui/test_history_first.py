"""A long run opens on its newest metrics rows; the history is read behind them and ends up
exactly as one full read, health judged oldest first (local run dirs; tests/tui/test_remote.py
does the same over a real sshd)."""

from __future__ import annotations

import json

import pytest

from jobs import runview
from jobs.rundir import JsonlTail, LineReader
from jobs.runview import RunView


def _rows(path, steps):
    with open(path, "a") as f:
        for s in steps:
            f.write(json.dumps({"step": s, "reward": s / 10}) + "\n")


@pytest.mark.parametrize("nbytes", [1, 5, 26, 27, 28, 60, 10_000])
def test_start_near_end_lands_on_a_line_start(tmp_path, nbytes):
    p = tmp_path / "m.jsonl"
    p.write_bytes(b'{"step":1}\n{"step":22}\n{"step":333}\n{"step":4}\n')  # 11+12+13+11 bytes
    data = p.read_bytes()
    r = LineReader(str(p))
    off = r.start_near_end(nbytes)
    # the first line start at or after size - nbytes (0 when the file is shorter)
    want = (
        0
        if nbytes >= len(data)
        else next(i for i in range(len(data) - nbytes, len(data) + 1) if i == len(data) or data[i - 1 : i] == b"\n")
    )
    assert off == want == r.offset
    t = JsonlTail(str(p))
    t.start_near_end(nbytes)
    assert [x["step"] for x in t.read_new()] == [json.loads(x)["step"] for x in data[want:].splitlines()]


def test_one_line_longer_than_the_tail_is_all_history(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text(json.dumps({"step": 1, "note": "x" * 5000}) + "\n")
    assert LineReader(str(p)).start_near_end(100) == p.stat().st_size


def test_newest_first_then_history_equals_one_full_read(tmp_path, monkeypatch):
    monkeypatch.setattr(runview, "FIRST_METRICS_BYTES", 2048)
    monkeypatch.setattr(runview, "HISTORY_CHUNK", 4096)
    m = tmp_path / "metrics.jsonl"
    _rows(m, range(1, 2001))
    v = RunView(str(tmp_path))
    v.refresh(history=False)
    n = len(v.metrics)
    assert 0 < n < 100 and v.metrics.last_step() == 2000 and v.history_progress == 0.0
    _rows(m, [2001, 2002])  # arrives while the history is pending
    v.refresh(history=False)
    chunks = []
    assert v.load_history(on_chunk=lambda done, total: chunks.append(done))
    assert len(chunks) > 5 and v.history_progress is None
    assert list(v.metrics.steps) == list(range(1, 2003))
    assert list(v.metrics.columns["reward"]) == [s / 10 for s in range(1, 2003)]


def test_a_replaced_metrics_file_drops_the_pending_history(tmp_path, monkeypatch):
    """A resume from an earlier checkpoint rewrites metrics.jsonl shorter: the view reads the new
    file from its start and a history load under way adds nothing twice."""
    monkeypatch.setattr(runview, "FIRST_METRICS_BYTES", 1024)
    m = tmp_path / "metrics.jsonl"
    _rows(m, range(1, 501))
    v = RunView(str(tmp_path))
    v.refresh(history=False)
    assert v.history_progress is not None
    m.write_text("")
    _rows(m, range(1, 6))
    v.refresh(history=False)
    assert v.history_progress is None and not v.load_history()
    assert list(v.metrics.steps) == [1, 2, 3, 4, 5]


def test_alerts_after_the_history_are_those_of_one_full_read(runs, monkeypatch):
    """Health rules are judged oldest first: the newest rows wait until the history is in."""
    monkeypatch.setattr(runview, "FIRST_METRICS_BYTES", 2048)
    run = str(runs / "collapsing")

    def settle(v):
        for _ in range(1000):
            v.refresh()
            if not v.health_pending:
                break
        return [(a.rule, a.severity, a.first_step) for a in v.alerts()]

    full = RunView(run)
    monkeypatch.setattr(full, "_started", True)  # no tail-first: the whole file in one read
    expected = settle(full)
    v = RunView(run)
    v.refresh(history=False)
    assert v.history_progress is not None and v.health_pending == len(v.metrics)  # waiting, not judged
    assert v.load_history()
    assert expected and settle(v) == expected
