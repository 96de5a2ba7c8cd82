"""A user's own template with `kind = "command"` and `entry = [...]` (no `--` on the command line),
submitted through the real CLI to a local profile whose `python = …` is a venv on no PATH: the
job is run by that interpreter, and the metrics it leaves in a Hugging Face trainer_state.json
appear in the real registry's dashboard (Pilot: jobs table → run screen → charts)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.clusters.conftest import cli, ended, wait_for
from tests.clusters.venvs import make_venv

pytestmark = pytest.mark.timeout(180)

# What a user's fine-tuning script leaves behind (the shape of TRL's checkpoints), and which
# interpreter ran it; it imports arc_probe, which only the profile's venv has.
SCRIPT = """
import json, os, sys
import arc_probe  # noqa: F401 - only the profile's venv can import it
print(sys.executable)
print("args", sys.argv[1:])
history = [{"step": s, "epoch": s / 4, "loss": 2.0 / s, "learning_rate": 1e-4 * (5 - s)} for s in (1, 2, 3, 4)]
os.makedirs("out/checkpoint-4")
json.dump({"global_step": 4, "max_steps": 4, "log_history": history}, open("out/checkpoint-4/trainer_state.json", "w"))
"""


@pytest.fixture(scope="module")
def command_job(tmp_path_factory):
    base = tmp_path_factory.mktemp("cmd-template")
    venv = make_venv(base / "venv")
    cfg = base / "config"
    (cfg / "profiles").mkdir(parents=True)
    (cfg / "templates").mkdir()
    (cfg / "profiles" / "venvlocal.toml").write_text(
        f'[profile]\nbackend = "local"\nruns_root = "{base / "runs"}"\n[options]\npython = "{venv}/bin/python"\n'
    )
    (base / "finetune.py").write_text(SCRIPT)
    (cfg / "templates" / "myfinetune.toml").write_text(
        "[template]\n"
        'kind = "command"\n'
        'description = "my own fine-tuning script"\n'
        'name = "myfinetune"\n'
        f'entry = ["python", "{base / "finetune.py"}", "--epochs", "1"]\n'
        '[resources]\ngpus = 0\ncpus = 1\nmemory = "1G"\n'
    )
    env = {"ARCCTL_CONFIG_DIR": str(cfg), "ARCCTL_HOME": str(base / "home")}
    jid = cli(env, "submit", "myfinetune", "--profile", "venvlocal", "-q").stdout.split()[0]
    job = wait_for(lambda: ended(env, jid), timeout=90, interval=0.5, what="the command job ended")
    return env, venv, jid, job


def test_a_user_command_template_runs_with_the_profiles_python(command_job):
    env, venv, jid, job = command_job
    rd = Path(job["run_dir"])
    assert job["state"] == "completed" and job["exit_code"] == 0, (rd / "stderr.log").read_text()
    assert rd.name == "myfinetune"
    spec = json.loads((rd / "spec.json").read_text())
    assert spec["kind"] == "command" and spec["template"] == "myfinetune"
    assert spec["entry"][0] == "python"  # the profile's interpreter is chosen at launch, per host
    out = (rd / "stdout.log").read_text().splitlines()
    assert out == [f"{venv}/bin/python", "args ['--epochs', '1']"], out
    rows = [json.loads(line) for line in cli(env, "tail", jid, "--metrics", "--json").stdout.splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and rows[1]["loss"] == 1.0


def test_the_dashboard_shows_the_command_jobs_trainer_state_metrics(command_job, monkeypatch):
    from textual.widgets import DataTable, SelectionList, Static

    from arcctl.tui.app import ArcApp
    from arcctl.tui.data import JobSource
    from arcctl.tui.screens.jobs import JobsScreen
    from arcctl.tui.screens.run import MetricPicker, RunScreen
    from arcctl.tui.widgets.charts import MetricChart
    from jobs.registry import Registry
    from tests.pilot import until

    env, _, jid, job = command_job
    for k, v in env.items():
        monkeypatch.setenv(k, v)

    def status(app) -> str:
        found = app.screen.query("#run-status")
        return str(found.first(Static).render()) if found else ""

    def chart(app, name):
        return next((c for c in app.screen.query(MetricChart) if c.metric == name), None)

    async def drive() -> None:
        app = ArcApp(source=JobSource(Registry(), []), refresh_s=0.05)
        async with app.run_test(size=(150, 48)) as pilot:
            table = lambda: app.screen.query_one("#jobs", DataTable)  # noqa: E731
            await until(pilot, lambda: isinstance(app.screen, JobsScreen) and table().row_count == 1, timeout=60)
            assert "myfinetune" in " ".join(str(c) for c in table().get_row_at(0))
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, RunScreen) and "rows 4" in status(app), timeout=60)
            assert status(app).startswith("step 4/4 ") and "exit code 0" in status(app)  # total: max_steps
            run = app.screen
            assert set(run.view.metrics.names()) >= {"loss", "learning_rate"}
            # it opens on what the script logs, not on GRPO's reward and KL (no data there)
            await until(pilot, lambda: chart(app, "loss") is not None and chart(app, "loss").points == 4)
            assert sorted(c.metric for c in run.query(MetricChart)) == ["learning_rate", "loss"]
            # the metric picker offers the script's own metrics; picked, they are drawn
            await pilot.press("m")
            await until(pilot, lambda: isinstance(app.screen, MetricPicker))
            sel = app.screen.query_one(SelectionList)
            offered = [sel.get_option_at_index(i).value for i in range(sel.option_count)]
            assert "loss" in offered and "learning_rate" in offered, offered
            sel.deselect_all()
            sel.select("loss")
            await pilot.press("enter")  # applies (the focused list must not take it as a toggle)
            await until(pilot, lambda: app.screen is run and chart(app, "learning_rate") is None)
            await until(pilot, lambda: chart(app, "loss") is not None and chart(app, "loss").points == 4)
            assert [c.metric for c in run.query(MetricChart)] == ["loss"]

    asyncio.run(drive())
