"""Progress and ETA: on the metrics of a real tiny GRPO run (tests/health/traces), and through
`arcctl ls` (table and --json) on a running job."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from jobs.progress import Progress, ProgressTracker, duration, read_progress
from tests.cli_jobs.conftest import run_cli, wait_for

TRACE = Path(__file__).parents[1] / "health" / "traces" / "real_tiny_cpu_lr1e-4"


def trace_rows() -> list[dict]:
    return [json.loads(line) for line in (TRACE / "metrics.jsonl").read_text().splitlines()]


def test_total_from_epoch_speed_and_eta_on_a_real_run():
    rows = trace_rows()
    assert len(rows) == 60
    t = ProgressTracker()
    t.feed(rows[:30])
    p = t.estimate({"epochs": 1.0, "max_steps": -1})  # total from TRL's `epoch`: 30 / 0.5 epochs
    assert (p.step, p.total) == (30, 60) and p.fraction == 0.5
    mean = (rows[29]["step"] - rows[0]["step"]) / (rows[29]["time"] - rows[0]["time"])
    assert 0.6 * mean < p.steps_per_s < 1.6 * mean  # smoothed: near the run's real speed
    assert p.eta_s == pytest.approx(30 / p.steps_per_s)
    assert t.estimate({"max_steps": 100}).total == 100  # an explicit max_steps wins
    t.feed(rows[30:])
    done = t.estimate({"epochs": 1.0}, done=True)
    assert done.done and done.eta_text() == "done" and done.step_text() == "60/60"


def test_a_requeue_pause_is_not_a_speed():
    rows = trace_rows()
    t, u = ProgressTracker(), ProgressTracker()
    t.feed(rows[:40])
    resumed = [dict(r, time=r["time"] + 3600) for r in rows[40:]]  # an hour in the queue after step 40
    u.feed(rows[:40] + resumed)
    t.feed(rows[40:])
    assert u.estimate().steps_per_s == pytest.approx(t.estimate().steps_per_s, rel=0.05)  # not 1/3600
    v = ProgressTracker()
    v.feed(rows[:20] + rows[10:20])  # a resumed run logs steps again: no negative speed
    assert v.estimate().steps_per_s > 0


def test_rows_without_numbers_and_formats():
    t = ProgressTracker()
    t.feed([{"step": "x", "time": 1}, {"time": 5}, {"step": float("nan"), "time": 1.0}, {"step": True, "time": 2.0}])
    assert t.estimate() == Progress()
    t.feed([{"step": 1, "time": 10.0}, {"step": 2}, {"step": 3, "time": 30.0}])  # a row without time: no speed from it
    assert t.estimate().step == 3 and t.estimate().steps_per_s is None
    t.feed([{"step": 5, "time": 34.0}])
    assert t.estimate().steps_per_s == 0.5
    assert Progress().text() == "-  -  ETA -"
    assert [duration(s) for s in (5, 125, 3 * 3600 + 300, 2 * 86400 + 4 * 3600)] == ["5s", "2m", "3h05m", "2d04h"]
    assert Progress(1, 10, 0.02).rate_text() == "50 s/st" and Progress(1, 10, 2.5).rate_text() == "2.5 st/s"


def test_read_progress_reads_only_the_end(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    rows = trace_rows()
    with open(run / "metrics.jsonl", "w") as f:
        for i in range(200):  # ~600 KB of earlier rows that must not matter
            f.write(json.dumps(dict(rows[0], step=-1000 + i, time=0)) + "\n")
        for r in rows[:45]:
            f.write(json.dumps(r) + "\n")
        f.write('{"step": 46, "ti')  # torn last line
    (run / "spec.json").write_text(json.dumps({"params": {"max_steps": 60}}))
    p = read_progress(str(run))
    assert (p.step, p.total) == (45, 60) and p.eta_s and p.eta_s > 0
    (run / "spec.json").write_text("{not json")
    assert read_progress(str(run)).total is None and read_progress(str(run)).step == 45
    assert read_progress(str(tmp_path / "missing")) == Progress()


@pytest.mark.timeout(120)
def test_ls_shows_step_and_eta_of_running_jobs(home):
    [jid] = run_cli("submit", "fakeslow", "-p", "max_steps=200", "--profile", "quick", "-q", check=True).stdout.split()
    try:

        def progressed():
            rows = {j["id"]: j for j in json.loads(run_cli("ls", "--json", check=True).stdout)}
            p = rows[jid]["progress"]
            return p if p and p["step"] and p["step"] >= 5 else None

        p = wait_for(progressed, timeout=60)
        assert p["total"] == 200 and 2 < p["steps_per_s"] < 20 and p["eta_s"] > 0 and not p["done"]
        table = run_cli("ls", check=True).stdout.splitlines()
        assert table[0].split()[:9] == ["ID", "STATE", "EXIT", "KIND", "PROFILE", "AGE", "STEP", "ETA", "NAME"]
        row = next(line for line in table if line.startswith(jid))
        assert re.search(r"\s\d+/200\s+\d+[sm]\s", row), row
    finally:
        run_cli("cancel", jid, check=True)
    wait_for(lambda: json.loads(run_cli("ls", "--json", check=True).stdout)[0]["state"] == "cancelled")
    done = json.loads(run_cli("ls", "--json", check=True).stdout)[0]
    assert done["progress"] is None  # finished jobs cost nothing to list
