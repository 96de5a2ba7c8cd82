"""`arcctl compare` of a run the collapse guard rolled back shows the run's outcome: the metrics of
its newest rollback child (the chain parent run dir -> child run dirs named by `rollback` events,
jobs.lineage), labelled `run → child`, in the table and in `--json` alike. The run dirs are the
dashboard's fixture runs; the rollback child is the one trainer.guard writes (its spec and the
`rollback` event through RunFiles) and its checkpoint's eval file the one trainer.evaluate leaves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

from tests.cli_jobs.conftest import one_line_error, run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "tui" / "fixtures" / "runs"


def _copy(name: str, root: Path) -> Path:
    run = root / name
    shutil.copytree(FIXTURES / name, run)
    spec = json.loads((run / "spec.json").read_text())
    spec["run_dir"] = str(run)
    (run / "spec.json").write_text(json.dumps(spec))
    return run


def _roll_back(run: Path, first_warning: int, step: int) -> Path:
    """What the guard leaves when a critical alert stops RUN: the child spec and the `continued`
    rollback event naming it."""
    from jobs import records
    from jobs.spec import JobSpec
    from trainer.guard import rollback_spec
    from trainer.runfiles import RunFiles

    child = rollback_spec(JobSpec.read(run), str(run), first_warning)
    child.write()
    files = RunFiles(str(run), enabled=True)
    files.event(
        records.EV_ROLLBACK,
        step=step,
        status=records.ROLLBACK_CONTINUED,
        child_run_dir=child.run_dir,
        child_name=child.name,
        checkpoint=child.parent.checkpoint,
    )
    files.close()
    return Path(child.run_dir)


def _evaluated(run: Path, step: int, is_correct: float) -> Path:
    """An evaluated checkpoint-STEP of RUN: the slim metrics copy trainer.evaluate leaves in it."""
    from trainer.evaluate import _copy_to_checkpoint

    ckpt = run / f"checkpoint-{step}"
    ckpt.mkdir()
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    doc = json.loads((FIXTURES / "healthy" / "eval" / "metrics.json").read_text())
    doc["aggregate"]["is_correct"] = is_correct
    _copy_to_checkpoint(SimpleNamespace(adapter_path=str(ckpt), dataset=doc["dataset"]), doc, print)
    return ckpt


def _rows(res) -> dict[str, dict]:
    return {r["experiment"]: r for r in json.loads(res.stdout)["rows"]}


def test_compare_shows_the_newest_rollback_childs_metrics(home, tmp_path):
    parent, healthy = _copy("collapsing", tmp_path), _copy("healthy", tmp_path)
    own = json.loads((parent / "eval" / "metrics.json").read_text())["aggregate"]["is_correct"]
    child = _roll_back(parent, first_warning=45, step=50)

    # rolled back, the child not evaluated yet: one line naming the child, not the parent's numbers
    res = run_cli("compare", str(parent), str(healthy))
    msg = one_line_error(res, f"rolled back into {child}", "no evaluated checkpoints yet")
    assert "Traceback" not in res.stderr and msg

    _evaluated(child, 60, is_correct=0.5)
    label = f"collapsing → {child.name}/checkpoint-60"
    rows = _rows(run_cli("compare", str(parent), str(healthy), "--json", check=True))
    assert set(rows) == {label, "healthy"}
    assert rows[label]["values"]["is_correct"] == 0.5 != own  # the child's outcome, not the parent's
    assert rows[label]["rollback_chain"] == [str(parent), str(child)] and rows["healthy"]["rollback_chain"] == []
    assert rows[label]["source"].startswith(str(child) + "/checkpoint-60/eval/")
    table = run_cli("compare", str(parent), str(healthy), check=True).stdout
    line = next(ln for ln in table.splitlines() if f"collapsing → {child.name}" in ln)  # the eval table's row
    assert "50.00%" in line and "12.50%" not in line  # is_correct: the child's, not the parent's
    assert "rolled back by the collapse guard" in table
    md = run_cli("compare", str(parent), "--markdown", check=True).stdout
    assert f"| {label} |" in md

    # a second rollback: the newest child is the outcome
    grandchild = _roll_back(child, first_warning=70, step=75)
    _evaluated(grandchild, 90, is_correct=0.75)
    rows = _rows(run_cli("compare", str(parent), "--json", check=True))
    assert list(rows) == [f"collapsing → {grandchild.name}/checkpoint-90"]
    only = next(iter(rows.values()))
    assert only["values"]["is_correct"] == 0.75 and only["rollback_chain"] == [str(parent), str(child), str(grandchild)]
    # the parent's own evaluation stays reachable by naming it
    assert (
        _rows(run_cli("compare", str(parent / "eval" / "metrics.json"), "--json", check=True))["collapsing"]["values"][
            "is_correct"
        ]
        == own
    )


def test_a_rollback_child_without_a_spec_is_no_run_yet(home, tmp_path):
    """A rollback event naming a child whose spec.json is not written: the run is its own outcome."""
    parent = _copy("collapsing", tmp_path)
    child = _roll_back(parent, first_warning=45, step=50)
    (child / "spec.json").unlink()
    rows = _rows(run_cli("compare", str(parent), "--json", check=True))
    assert list(rows) == ["collapsing"] and rows["collapsing"]["rollback_chain"] == []
