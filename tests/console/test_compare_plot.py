"""`arcctl compare RUN... --plot METRIC` through the real binary: the overlay printed as text
(plain when piped), forks drawn through their parents, one error line for a metric no run has."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli_jobs.conftest import run_cli

pytestmark = pytest.mark.timeout(120)
FIXTURES = Path(__file__).parents[1] / "tui" / "fixtures" / "runs"


def copy_runs(tmp: Path) -> tuple[Path, Path, Path]:
    healthy, collapsing = tmp / "healthy", tmp / "collapsing"
    shutil.copytree(FIXTURES / "healthy", healthy)
    shutil.copytree(FIXTURES / "collapsing", collapsing)
    fork = tmp / "fork"
    fork.mkdir()
    spec = json.loads((healthy / "spec.json").read_text())
    spec.update(name="fork", run_dir=str(fork), parent={"run_dir": str(healthy), "checkpoint": "checkpoint-20"})
    spec["params"]["learning_rate"] = 3e-6
    (fork / "spec.json").write_text(json.dumps(spec))
    (fork / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "time": 1.0 * s, "reward": 0.9}) + "\n" for s in range(21, 41))
    )
    return healthy, collapsing, fork


def test_plot_overlays_runs_with_a_fork_chain(home, tmp_path):
    healthy, collapsing, fork = copy_runs(tmp_path)
    res = run_cli(
        "compare", str(fork), str(collapsing), "--plot", "reward", "--width", "90", "--height", "12", check=True
    )
    out = res.stdout.splitlines()
    assert "\x1b[" not in res.stdout  # piped: no colour codes
    assert out[0].startswith("reward") and len(out) == 1 + 10 + 1 + 1 + 1  # title, rows, x axis, legend, note
    assert all(len(line) <= 90 for line in out)
    assert out[11].split() == ["1", "35.5", "70"]  # shared step axis: the chain starts at step 1
    assert out[12] == "■ learning_rate=3e-06   ■ learning_rate=1e-06   "
    assert "forks drawn through 1 parent run(s)" in out[13]
    plot = "\n".join(out[1:11])
    assert "║" in plot and "┆" in plot  # the fork step and checkpoints marked
    assert sum(0x2800 < ord(c) < 0x2900 for c in plot) > 50


def test_plot_errors_are_one_line(home, tmp_path):
    healthy, _, _ = copy_runs(tmp_path)
    res = run_cli("compare", str(healthy), "--plot", "no/such")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "no/such" in res.stderr and "reward" in res.stderr
    res = run_cli("compare", str(tmp_path / "missing"), "--plot", "reward")
    assert res.returncode == 2 and "missing" in res.stderr and "Traceback" not in res.stderr
    # a chart has no table: --json / --markdown with --plot were silently dropped
    res = run_cli("compare", str(healthy), "--plot", "reward", "--json")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "--json prints the eval table" in res.stderr
