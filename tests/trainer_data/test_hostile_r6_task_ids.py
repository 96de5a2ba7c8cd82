"""Round 6: `task_ids = []`. The trainer reads an empty list as no filter (every task of the data
set, trainer.task_select / jobs.refine / HER's toy targets alike), so a list that came out empty
(a filter that kept nothing, a template's placeholder) passed render and trained or evaluated on
every task. It is refused in one line naming the parameter, at render and in a spec.json the
trainer is given."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.tiny_params import job_spec
from tests.trainer_train.helpers import REPO, env, events, run_trainer

SAYS = "an empty list would use every task of the dataset; leave task_ids out for that"


@pytest.mark.parametrize("kind", ["grpo", "eval", "her"])
def test_render_refuses_an_empty_task_id_list(tmp_path, kind):
    home = tmp_path / "home"
    proc = subprocess.run(
        [sys.executable, "-m", "arcctl.cli.main", "submit", kind, "-p", "task_ids=[]"],
        cwd=REPO,
        env={**env(), "ARCCTL_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [f"error: -p task_ids=[]: {SAYS}"]
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())


def test_the_trainer_refuses_a_spec_with_an_empty_task_id_list_at_start(tmp_path):
    run_dir = tmp_path / "run"
    job_spec("eval", run_dir, {"model_path": str(tmp_path / "no-model"), "dataset": "arc1/train"}).write()
    raw = json.loads((run_dir / "spec.json").read_text())
    raw["params"]["task_ids"] = []
    (run_dir / "spec.json").write_text(json.dumps(raw))
    proc = run_trainer("run", str(run_dir), timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"trainer: error: {run_dir / 'spec.json'}: task_ids: Value error, {SAYS}"]
    assert events(run_dir)[-1]["event"] == "error"
