"""`arcctl compare` on HER runs: epochs to solve each target per run (the HER research's table of a
6k-step model against a 32k-step one), read from the runs' events; and the run reader itself."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from arcctl.cli.main import app
from jobs.compare import build_her_table
from jobs.her_report import EV_HER_EPOCH, EV_HER_TARGET, read_targets, sparkline
from jobs.rundir import JsonlWriter

runner = CliRunner()

# epochs to solve each target, as reported for HER runs (None: never solved)
NOTES = {
    "9-vertical-lines": (2, 2),
    "12-squares": (4, 2),
    "16-squares": (7, 4),
    "20-squares": (7, 7),
    "25-squares": (10, 11),
}


def her_run(root, name, solved_at: dict, epochs: int = 12, unfinished: str | None = None):
    """A HER run dir as trainer/her.py leaves it: spec.json and one her_epoch event per epoch."""
    run = root / name
    run.mkdir()
    (run / "spec.json").write_text(json.dumps({"kind": "her", "name": name}))
    w = JsonlWriter(run / "events.jsonl")
    w.write({"event": "started", "time": 1.0})
    step = 0
    for i, (task, at) in enumerate(solved_at.items()):
        last = at or epochs
        if task == unfinished:
            last = min(last, 3)
        for e in range(1, last + 1):
            step += 1
            w.write(
                {
                    "event": EV_HER_EPOCH,
                    "time": 2.0,
                    "step": step,
                    "task_id": task,
                    "target": i,
                    "epoch": e,
                    "solved": e == at,
                    "best_pixel_score": min(1.0, 0.5 + e / 20),
                    "mean_pixel_score": 0.3,
                    "test_correct": 1.0 if e == at else 0.0,
                    "checkpoint": f"{run}/checkpoint-{step}",
                }
            )
        if task != unfinished:
            w.write({"event": EV_HER_TARGET, "time": 3.0, "task_id": task, "target": i, "solved": at is not None})
    w.close()
    return run


def test_epochs_to_solve_table(tmp_path):
    a = her_run(tmp_path, "6k", {t: v[0] for t, v in NOTES.items()})
    b = her_run(tmp_path, "32k", {t: v[1] for t, v in NOTES.items()})
    t = build_her_table([str(a), str(b)], labels=["6k steps model", "32k steps model"])
    md = t.to_markdown().splitlines()
    assert md[0] == "| task | 6k steps model | 32k steps model |"
    assert md[2] == "| 9-vertical-lines | 2 | 2 |"  # a tie marks nothing
    assert md[3] == "| 12-squares | 4 | **2** |"
    assert md[6] == "| 25-squares | **10** | 11 |"
    doc = t.to_json()
    assert doc["tasks"][2]["32k steps model"]["solved_at"] == 4


def test_unsolved_running_and_missing_targets(tmp_path):
    a = her_run(tmp_path, "a", {"12-squares": None, "16-squares": 5}, epochs=6)
    b = her_run(tmp_path, "b", {"12-squares": 3, "16-squares": None}, unfinished="16-squares")
    c = her_run(tmp_path, "c", {"12-squares": 2})
    t = build_her_table([str(a), str(b), str(c)])
    assert t.cell("12-squares", "a") == ">6" and t.cell("16-squares", "b") == "3…"
    assert t.cell("16-squares", "c") == "-" and ("12-squares", "c") in t.best


def test_cli_compare_her_runs_and_refuses_a_mix(tmp_path):
    a = her_run(tmp_path, "6k", {t: v[0] for t, v in NOTES.items()})
    b = her_run(tmp_path, "32k", {t: v[1] for t, v in NOTES.items()})
    r = runner.invoke(app, ["compare", str(a), str(b)])
    assert r.exit_code == 0, r.output
    assert "| 16-squares | 7 | **4** |" in r.output
    r = runner.invoke(app, ["compare", str(a), str(b), "--json"])
    assert json.loads(r.output)["runs"] == ["6k", "32k"]
    other = tmp_path / "grpo"
    other.mkdir()
    (other / "spec.json").write_text(json.dumps({"kind": "grpo"}))
    r = runner.invoke(app, ["compare", str(a), str(other)])
    assert r.exit_code == 2 and "not a HER run" in r.output


def test_reader_keeps_the_later_record_of_a_repeated_epoch_and_skips_junk(tmp_path):
    run = her_run(tmp_path, "r", {"12-squares": None}, epochs=2, unfinished="12-squares")
    with open(run / "events.jsonl", "a") as f:
        # a restart re-ran epoch 2 (it had not been checkpointed), then junk and a torn line
        f.write(
            json.dumps(
                {
                    "event": EV_HER_EPOCH,
                    "task_id": "12-squares",
                    "target": 0,
                    "epoch": 2,
                    "solved": True,
                    "best_pixel_score": 1.0,
                }
            )
            + "\n"
        )
        f.write(json.dumps({"event": EV_HER_EPOCH, "task_id": 7, "target": "x"}) + "\n")
        f.write('{"event": "her_epoch", "task_id": "12-sq')
    rows = read_targets(str(run))
    assert len(rows) == 1 and rows[0].solved_at == 2 and rows[0].best_curve == [0.55, 1.0]
    assert sparkline(rows[0].best_curve) == "▄█"


def _damage(run, task: str, target: int, epoch: int, **scores) -> None:
    """A damaged her_epoch record (a hand edit, a foreign writer) appended after the real ones: a
    later record of an epoch wins, so these values are the ones read."""
    w = JsonlWriter(run / "events.jsonl")
    w.write({"event": EV_HER_EPOCH, "time": 4.0, "task_id": task, "target": target, "epoch": epoch, **scores})
    w.close()


def test_scores_outside_0_1_read_as_missing_in_the_table_and_the_json(tmp_path):
    a = her_run(tmp_path, "6k", {"12-squares": 4, "16-squares": 7})
    b = her_run(tmp_path, "32k", {"12-squares": 2, "16-squares": 4})
    _damage(a, "12-squares", 0, 2, best_pixel_score=1.7, mean_pixel_score=-3, test_correct=0.0)
    _damage(b, "16-squares", 1, 1, best_pixel_score=0.25, mean_pixel_score=0.2, test_correct="yes")
    rows = read_targets(str(a))
    assert rows[0].best_curve == [0.55, None, 0.65, 0.7]  # 1.7 is no pixel score: missing, not 1.7
    assert rows[0].epochs[1].mean_pixel_score is None and rows[0].epochs[1].test_correct == 0.0
    assert rows[0].invalid == ["epoch 2: best_pixel_score=1.7", "epoch 2: mean_pixel_score=-3"]
    assert sparkline(rows[0].best_curve) == "▄·▅▆"

    r = runner.invoke(app, ["compare", str(a), str(b), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    cell = doc["tasks"][0]["6k"]
    assert cell["best_pixel_score"] == [0.55, None, 0.65, 0.7] and cell["solved_at"] == 4
    assert all(
        v is None or 0 <= v <= 1 for t in doc["tasks"] for run in ("6k", "32k") for v in t[run]["best_pixel_score"]
    )
    expected = [
        "6k: 12-squares epoch 2: best_pixel_score=1.7",
        "6k: 12-squares epoch 2: mean_pixel_score=-3",
        '32k: 16-squares epoch 1: test_correct="yes"',
    ]
    assert doc["invalid"] == expected and cell["invalid"] == [e.split("12-squares ")[1] for e in expected[:2]]
    notice = "notice: 3 HER score(s) not a number in 0..1, read as missing: " + "; ".join(expected)
    assert r.stderr.strip() == notice  # the same values, one line, beside the JSON
    r = runner.invoke(app, ["compare", str(a), str(b)])
    assert r.exit_code == 0 and "| 12-squares | 4 | **2** |" in r.stdout and "Traceback" not in r.output
    assert r.stderr.strip() == notice
    clean = runner.invoke(app, ["compare", str(her_run(tmp_path, "clean", {"12-squares": 2})), "--json"])
    assert clean.stderr == "" and json.loads(clean.stdout)["invalid"] == []
