"""Run-dir fields are read strictly (docs/run-dir.md, "Reading rules"): a boolean only from a JSON
boolean, a step only from a JSON integer. A hand-edited or foreign completions.jsonl whose
`truncated` is the string "no" or whose `step` is `true` must not show as `[truncated]` or
`step True` (in Python a non-empty string is truthy and `isinstance(True, int)` holds): the field
reads as missing and the line names it. The run dir is a real GRPO trace recorded by the trainer
(tests/health/traces), with damaged lines appended as an editor would leave them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from arcctl.cli.tail_cmd import format_record
from jobs.completions import Completion, CompletionIndex
from jobs.health.textcheck import completion_stats
from jobs.rundir import LocalFS, read_jsonl
from jobs.runview import RunView
from tests.cli_jobs.conftest import run_cli

TRACE = Path(__file__).resolve().parents[1] / "health" / "traces" / "real_repeat_reward"


def _damaged_run(tmp_path: Path, trace: Path = TRACE) -> tuple[Path, dict]:
    """A real trace plus two copies of its last completion: `truncated` "no" and `step` true."""
    run = tmp_path / "run"
    shutil.copytree(trace, run)
    last = read_jsonl(run / "completions.jsonl")[-1]
    assert last["truncated"] is True and isinstance(last["step"], int)  # what the trainer writes
    with open(run / "completions.jsonl", "a") as f:
        f.write(json.dumps({**last, "id": "edit:0", "truncated": "no", "completion": "EDITED-NO"}) + "\n")
        f.write(json.dumps({**last, "id": "edit:1", "step": True, "truncated": 1, "completion": "EDITED-TRUE"}) + "\n")
    return run, last


def test_tail_never_shows_a_string_as_truncated_nor_true_as_a_step(home, tmp_path):
    run, last = _damaged_run(tmp_path)
    out = run_cli("tail", str(run), "--completions", "-n", "3", check=True).stdout.splitlines()
    assert len(out) == 3
    real, edited_no, edited_true = out
    assert real.startswith(f"step {last['step']}  task {last['task_id']}  ") and " tok [truncated]  " in real
    assert "[invalid" not in real
    assert edited_no.startswith(f"step {last['step']}  ") and "[truncated]" not in edited_no
    assert ' tok  [invalid: truncated="no"]  EDITED-NO' in edited_no
    assert edited_true.startswith("step ?  ") and "step True" not in edited_true and "[truncated]" not in edited_true
    assert " tok  [invalid: step=true, truncated=1]  EDITED-TRUE" in edited_true


def test_tail_metrics_name_a_bool_step_and_a_bool_metric():
    line = format_record("metrics", {"step": True, "time": 1.0, "reward": 0.5, "loss": False})
    assert line == "step ?  reward=0.5  [invalid: step=true, loss=false]"
    assert format_record("metrics", {"step": 3, "reward": 0.5}) == "step 3  reward=0.5"
    assert format_record("metrics", {"step": "3", "custom": "x"}, all_metrics=True) == (
        'step ?  [invalid: step="3", custom="x"]'
    )


def test_every_completions_reader_reads_the_fields_strictly(tmp_path):
    run, last = _damaged_run(tmp_path)
    rows = read_jsonl(run / "completions.jsonl")
    no, true_step = rows[-2], rows[-1]
    # the completions screen's record
    assert Completion.from_obj(0, no).truncated is False and Completion.from_obj(0, no).step == last["step"]
    c = Completion.from_obj(1, true_step)
    assert c.step is None and c.truncated is False
    assert Completion.from_obj(2, {**last, "step": "7", "n_tokens": 2.5, "reward": "0.5"}).step is None
    assert Completion.from_obj(2, {**last, "n_tokens": 2.5}).tokens is None
    assert Completion.from_obj(2, {**last, "reward": "0.5"}).reward is None
    # the health monitor's per-completion stats
    assert completion_stats(no).truncated is False and completion_stats(last).truncated is True
    assert completion_stats(true_step).step == 0 and completion_stats(last).step == last["step"]
    # the byte index behind paging and filters: no step for `true` or 5.5, "no" is not truncated
    with open(run / "completions.jsonl", "a") as f:
        f.write(json.dumps({**last, "step": 5.5}) + "\n")
    idx = CompletionIndex(LocalFS(), str(run / "completions.jsonl"))
    idx.update(None)
    assert list(idx.step[-4:]) == [last["step"], last["step"], -1, -1]
    assert list(idx.trunc[-4:-2]) == [1, 0]


def test_health_of_a_run_with_a_string_step_goes_on(tmp_path):
    """A completion whose step is a string once stopped the run screen's health check (a str
    compared with an int); it now reads as step 0, and the alerts of the real rows still come."""
    run, last = _damaged_run(tmp_path)
    with open(run / "completions.jsonl", "a") as f:
        f.write(json.dumps({**last, "step": "late"}) + "\n")
    # more rows than one health slice (jobs.runview.HEALTH_SLICE), so completions are split by step
    rows = read_jsonl(run / "metrics.jsonl")
    with open(run / "metrics.jsonl", "a") as f:
        for k in range(1, 5):
            for r in rows:
                f.write(json.dumps({**r, "step": r["step"] + k * len(rows)}) + "\n")
    view = RunView(str(run))
    view.refresh()
    view.alerts()
    assert view.health_error is None


def test_check_run_dir_names_a_string_bool_and_a_bool_step(tmp_path):
    """jobs.records.check_run_dir checks types as the readers read them (pydantic's lax mode took
    "no" for false and true for step 1)."""
    from jobs import records

    trace = TRACE.parent / "real_tiny_cpu_lr1e-2"  # written in the current format: it validates
    assert records.check_run_dir(str(trace)) == []
    run, _last = _damaged_run(tmp_path, trace)
    n = len(read_jsonl(run / "completions.jsonl"))
    problems = records.check_run_dir(str(run))
    assert len(problems) == 2, problems
    assert problems[0].endswith(f"completions.jsonl:{n - 1}: truncated: Input should be a valid boolean")
    assert f"completions.jsonl:{n}: step: Input should be a valid integer" in problems[1]
    assert "truncated: Input should be a valid boolean" in problems[1]
