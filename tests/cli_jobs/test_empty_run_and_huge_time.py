"""An empty RUN argument (an unset shell variable) is refused instead of reading the current folder
as a run dir; a wall time past 366 days is refused at render instead of reaching `#SBATCH --time`
(Slurm keeps minutes in 32 bits)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from arcctl.cli.main import app
from jobs.backends.units import time_seconds
from jobs.errors import SpecError

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCCTL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARCCTL_CONFIG_DIR", str(tmp_path / "config"))
    (tmp_path / "spec.json").write_text('{"kind": "grpo", "params": {}}')  # cwd looks like a run dir
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("command", [["health"], ["tail"], ["logs"], ["open"], ["compare", "--plot", "reward"]])
@pytest.mark.parametrize("run", ["", "  "])
def test_an_empty_run_is_refused(command, run):
    res = CliRunner().invoke(app, [*command, run])
    assert res.exit_code == 2, res.output
    assert res.output.strip() == f"error: RUN {run!r}: empty; give a run dir, host:/path/to/run or a job id or name"


def test_a_wall_time_past_366_days_is_refused():
    assert time_seconds("366-00:00:00") == 366 * 86400
    for text in ("99999999:00:00", "366-00:00:01", "527041"):
        with pytest.raises(SpecError, match=f"resources.time: '{text}' is more than 366 days"):
            time_seconds(text)
    res = CliRunner().invoke(
        app, ["render", "sft", "--profile", "slurm-example", "-p", 'resources.time="99999999:00:00"']
    )
    assert res.exit_code == 2 and "is more than 366 days" in res.output, res.output
    assert "#SBATCH" not in res.output
