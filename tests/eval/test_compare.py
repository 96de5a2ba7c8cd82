"""`arcctl compare`: metrics of runs and checkpoints side by side, best per column in bold."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from arcctl.cli.main import app
from jobs.compare import build_table, checkpoint_metrics_name

runner = CliRunner()

# A real evaluation table (baseline vs RL all tasks), as fractions.
BASE = {
    "n_preds": 480,
    "valid_code": 1.0,
    "valid_outputs": 0.7087,
    "unique_outputs": 0.4382,
    "train_pixel_score": 0.4130,
    "train_correct_grids": 0.0207,
    "train_pass_rate": 0.0134,
    "train_is_correct": 0.2250,
    "test_pixel_score": 0.4021,
    "test_correct_grids": 0.0171,
    "test_pass_rate": 0.0168,
    "test_is_correct": 0.2850,
    "pass_rate": 0.0130,
    "is_correct": 0.2225,
    "pass_at_k": {"1": 0.013, "2": 0.025},
}
RL = {
    "n_preds": 480,
    "valid_code": 0.9617,
    "valid_outputs": 0.8192,
    "unique_outputs": 0.3598,
    "train_pixel_score": 0.5624,
    "train_correct_grids": 0.0676,
    "train_pass_rate": 0.0460,
    "train_is_correct": 0.2775,
    "test_pixel_score": 0.5493,
    "test_correct_grids": 0.0590,
    "test_pass_rate": 0.0582,
    "test_is_correct": 0.3525,
    "pass_rate": 0.0550,
    "is_correct": 0.27,
    "pass_at_k": {"1": 0.055, "2": 0.09},
}


def _eval_run(root, name, agg, dataset="arc1/eval"):
    d = root / name / "eval"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({"dataset": dataset, "aggregate": agg}))
    return root / name


def test_table_best_flags_per_column(tmp_path):
    a, b = _eval_run(tmp_path, "baseline", BASE), _eval_run(tmp_path, "rl-all-tasks", RL)
    t = build_table([str(a), str(b)])
    assert [r.label for r in t.rows] == ["baseline", "rl-all-tasks"]
    assert t.best["valid_code"] == {0} and t.best["unique_outputs"] == {0}
    assert t.best["is_correct"] == {1} and t.best["test_pass_rate"] == {1}
    assert "n_preds" not in t.best
    md = t.to_markdown()
    assert "| arc1/eval | baseline | 480 | **100.00%** | 70.87% | **43.82%** |" in md
    assert "**27.00%** |" in md


def test_best_only_within_a_dataset(tmp_path):
    a = _eval_run(tmp_path, "a", BASE, "arc1/eval")
    b = _eval_run(tmp_path, "b", RL, "arc1/train")
    t = build_table([str(a), str(b)])
    assert all(not v for v in t.best.values())  # different datasets never compete


def test_cli_bold_best_value(tmp_path):
    a, b = _eval_run(tmp_path, "baseline", BASE), _eval_run(tmp_path, "rl", RL)
    r = runner.invoke(app, ["compare", str(a), str(b)], env={"FORCE_COLOR": "1", "COLUMNS": "250", "TERM": "xterm"})
    assert r.exit_code == 0, r.output
    bold = re.compile(r"\x1b\[1m([^\x1b]*)\x1b\[0m")
    base_line = next(line for line in r.output.splitlines() if "baseline" in line and "%" in line)
    rl_line = next(line for line in r.output.splitlines() if "rl" in line and "27.00%" in line)
    assert "100.00%" in bold.findall(base_line) and "43.82%" in bold.findall(base_line)
    assert "22.25%" not in bold.findall(base_line)
    assert "27.00%" in bold.findall(rl_line) and "96.17%" not in bold.findall(rl_line)
    assert "pass@2" in r.output


def test_cli_json(tmp_path):
    a, b = _eval_run(tmp_path, "baseline", BASE), _eval_run(tmp_path, "rl", RL)
    r = runner.invoke(app, ["compare", str(a), str(b), "--json", "--label", "base", "--label", "after RL"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["columns"][:3] == ["experiment", "dataset", "n_preds"]
    rows = {row["experiment"]: row for row in doc["rows"]}
    assert rows["base"]["values"]["valid_code"] == 1.0
    assert "valid_code" in rows["base"]["best"] and "is_correct" in rows["after RL"]["best"]
    assert rows["after RL"]["pass_at_k"] == {"1": 0.055, "2": 0.09}


def test_checkpoints_of_a_training_run(tmp_path):
    run = tmp_path / "grpo-run"
    for step, agg in ((100, BASE), (200, RL)):
        d = run / f"checkpoint-{step}" / "eval"
        d.mkdir(parents=True)
        (d / checkpoint_metrics_name("arc1/eval")).write_text(json.dumps({"dataset": "arc1/eval", "aggregate": agg}))
    t = build_table([str(run)])
    assert [r.label for r in t.rows] == ["grpo-run/checkpoint-100", "grpo-run/checkpoint-200"]
    t = build_table([str(run / "checkpoint-200")])
    assert t.rows[0].values["is_correct"] == 0.27


def test_cli_errors_name_the_path(tmp_path):
    r = runner.invoke(app, ["compare", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "no such run, checkpoint or metrics file" in r.output
    (tmp_path / "checkpoint-5").mkdir()
    r = runner.invoke(app, ["compare", str(tmp_path / "checkpoint-5")])
    assert r.exit_code == 2 and "has not been evaluated" in r.output
    bad = tmp_path / "bad" / "eval"
    bad.mkdir(parents=True)
    (bad / "metrics.json").write_text("{oops")
    r = runner.invoke(app, ["compare", str(tmp_path / "bad")])
    assert r.exit_code == 2 and "metrics.json: not valid JSON" in r.output and "Traceback" not in r.output


def test_checkpoint_metrics_name():
    assert checkpoint_metrics_name("arc1/eval") == "arc1-eval.json"
    assert checkpoint_metrics_name("/data/arc-agi_evaluation_challenges.json") == "arc-agi_evaluation_challenges.json"


def test_cli_markdown(tmp_path):
    a, b = _eval_run(tmp_path, "baseline", BASE), _eval_run(tmp_path, "rl", RL)
    r = runner.invoke(app, ["compare", str(a), str(b), "--markdown"])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert lines[0].startswith("| dataset | experiment | n_preds | valid_code |")
    assert all(set(cell.strip()) <= set("-:") and cell.strip() for cell in lines[1].strip("|").split("|"))
    rows = {line.split("|")[2].strip(): line for line in lines[2:]}
    assert set(rows) == {"baseline", "rl"} and "\x1b" not in r.output  # plain text, no terminal styling
    assert "**100.00%**" in rows["baseline"] and "**27.00%**" in rows["rl"] and "**27.00%**" not in rows["baseline"]
