"""How `arcctl tail` prints records, and `arcctl templates` lists what is there."""

from __future__ import annotations

import json

from arcctl.cli.tail_cmd import format_record
from tests.cli_jobs.conftest import run_cli


def test_metrics_key_first_and_none_skipped():
    rec = {
        "step": 7,
        "time": 1.0,
        "loss": 0.5,
        "reward": 1.25,
        "kl": None,
        "arc/truncated_ratio": 0.125,
        "num_tokens": 99,
    }
    line = format_record("metrics", rec)
    assert line == "step 7  reward=1.25  loss=0.5  arc/truncated_ratio=0.125"
    assert "num_tokens=99" in format_record("metrics", rec, all_metrics=True)
    assert format_record("metrics", {"step": 1, "custom": 2}) == "step 1  custom=2"


def test_completion_and_event_lines():
    c = format_record(
        "completions",
        {
            "step": 3,
            "task_id": "abc",
            "reward": -1.0,
            "n_tokens": 1024,
            "truncated": True,
            "completion": "def f(x):\n    return x",
        },
    )
    assert c.startswith("step 3  task abc  reward -1  1024 tok [truncated]") and "⏎" in c
    e = format_record("events", {"time": 0, "event": "checkpoint_saved", "step": 200})
    assert "checkpoint_saved" in e and "step=200" in e


def test_templates_command(home):
    out = run_cli("templates", check=True).stdout
    assert "grpo" in out and "condor-example" in out and "fake" in out and "user" in out
    data = json.loads(run_cli("templates", "--json", check=True).stdout)
    assert {t["name"] for t in data["templates"]} >= {"grpo", "sft", "eval", "grpo-refine", "fake"}
    assert {p["name"]: p["backend"] for p in data["profiles"]}["slurm-example"] == "slurm"


def test_templates_show_one(home):
    out = run_cli("templates", "grpo", check=True).stdout
    assert " *model_path" in out and " learning_rate" in out and "2e-06" in out and "group|batch|none" in out
    data = json.loads(run_cli("templates", "sft", "--json", check=True).stdout)
    p = {r["name"]: r for r in data["params"]}
    assert p["dataset"]["source"] == "template" and p["learning_rate"]["source"] == "default"
    assert p["learning_rate"]["value"] == 2e-4  # SFT's own default
    res = run_cli("templates", "grpx")
    assert res.returncode == 2 and "did you mean 'grpo'" in res.stderr


def test_tail_completions_through_the_cli(home, tmp_path):
    rd = tmp_path / "run"
    rd.mkdir()
    rows = [
        {
            "step": s,
            "task_id": f"t{s}",
            "reward": s / 4,
            "n_tokens": 10 * s,
            "truncated": s == 3,
            "completion": f"def transform(g):\n    return g  # {s}",
        }
        for s in (1, 2, 3)
    ]
    (rd / "completions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 4, "ta')
    out = run_cli("tail", str(rd), "--completions", "-n", "2", check=True).stdout.splitlines()
    assert out == [
        "step 2  task t2  reward 0.5  20 tok  def transform(g):⏎    return g  # 2",
        "step 3  task t3  reward 0.75  30 tok [truncated]  def transform(g):⏎    return g  # 3",
    ]
    got = [json.loads(l) for l in run_cli("tail", str(rd), "--completions", "--json", check=True).stdout.splitlines()]
    assert got == rows  # the torn last line is not a record yet
    both = run_cli("tail", str(rd), "--completions", "--metrics")
    assert both.returncode == 2 and both.stderr.strip() == "error: choose one of --metrics, --completions, --events"
