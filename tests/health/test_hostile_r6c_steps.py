"""Steps past any real run (a metrics `step` of 10**300 or 10**400, `checkpoint-<21 digits>`, a
`global_step` of 10**300), checkpoints named twice for one step (`checkpoint-0001` beside
`checkpoint-1`), and a BOM or NUL bytes before the first metrics row: every reader takes the same
steps, the ones docs/run-dir.md allows (an integer 0..2**63-1, a canonical checkpoint name)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs import rundir as rd
from jobs.errors import SpecError
from jobs.metrics_history import MetricsHistory
from jobs.overlay import markers
from jobs.progress import read_progress
from jobs.runview import RunView
from jobs.trainer_state import log_entry_row

pytestmark = pytest.mark.timeout(120)
HUGE = 10**300


def _checkpoint(run: Path, name: str, global_step) -> Path:
    ck = run / name
    ck.mkdir(parents=True)
    (ck / "trainer_state.json").write_text(json.dumps({"global_step": global_step}))
    (ck / "adapter_model.safetensors").write_bytes(b"")
    return ck


def test_json_step_stops_at_int64():
    assert rd.json_step(2**63 - 1) == 2**63 - 1
    for v in (2**63, HUGE, 10**400, -1, True, 5.0):
        assert rd.json_step(v) is None


def test_a_huge_checkpoint_is_no_checkpoint_and_never_the_newest(tmp_path):
    _checkpoint(tmp_path, "checkpoint-5", 5)
    _checkpoint(tmp_path, "checkpoint-999999999999999999999", 999999999999999999999)
    _checkpoint(tmp_path, "checkpoint-9223372036854775808", 2**63)  # 2**63: one past the cap
    assert [c.name for c in rd.list_checkpoints(str(tmp_path))] == ["checkpoint-5"]
    assert rd.newest_valid_checkpoint(str(tmp_path)).name == "checkpoint-5"
    assert rd.checkpoint_step("checkpoint-9223372036854775807") == 2**63 - 1


def test_a_huge_global_step_makes_the_checkpoint_invalid_with_one_line(tmp_path):
    _checkpoint(tmp_path, "checkpoint-5", HUGE)
    (ck,) = rd.list_checkpoints(str(tmp_path))
    assert not ck.valid and "global_step" in ck.problem and "\n" not in ck.problem
    with pytest.raises(SpecError, match="global_step"):
        rd.pick_checkpoint(str(tmp_path), "5")


def test_zero_padded_checkpoint_is_not_a_second_checkpoint_of_the_step(tmp_path):
    _checkpoint(tmp_path, "checkpoint-1", 1)
    _checkpoint(tmp_path, "checkpoint-0001", 1)
    _checkpoint(tmp_path, "checkpoint-00", 0)
    _checkpoint(tmp_path, "checkpoint-0", 0)
    assert [c.name for c in rd.list_checkpoints(str(tmp_path))] == ["checkpoint-0", "checkpoint-1"]
    assert rd.pick_checkpoint(str(tmp_path), "1").name == "checkpoint-1"
    with pytest.raises(SpecError) as e:
        rd.pick_checkpoint(str(tmp_path), "0001")
    assert "no checkpoint-0001" in str(e.value) and "checkpoint-1" in str(e.value)


def _metrics(run: Path, raw: bytes) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / "metrics.jsonl").write_bytes(raw)


def _row(step, t) -> bytes:
    return (json.dumps({"step": step, "time": t, "loss": 1.0}) + "\n").encode()


@pytest.mark.parametrize("huge", [HUGE, 10**400])
def test_a_huge_metrics_step_reads_as_absent_everywhere(tmp_path, huge):
    _metrics(tmp_path, _row(1, 100.0) + _row(2, 101.0) + _row(huge, 102.0))
    assert read_progress(str(tmp_path)).step == 2
    hist = MetricsHistory()
    hist.extend(rd.read_jsonl(tmp_path / "metrics.jsonl"))  # 10**400 overflowed float() here
    assert list(hist.steps) == [1.0, 2.0]
    view = RunView(str(tmp_path))
    view.refresh()
    assert list(view.metrics.steps) == [1.0, 2.0] and view.progress_tracker.step == 2
    assert log_entry_row({"step": huge, "loss": 1.0}) is None


def test_a_huge_checkpoint_saved_step_is_no_chart_marker(tmp_path):
    class View:
        events = [
            {"event": "checkpoint_saved", "step": 10**400},
            {"event": "checkpoint_saved", "step": 4},
        ]

        def alerts(self):
            return []

    assert markers(View()).checkpoints == [4.0]


@pytest.mark.parametrize("junk", [b"\xef\xbb\xbf", b"\x00\x00\x00", b"\xef\xbb\xbf\x00"])
def test_bom_or_nul_before_the_first_row_progress_and_run_view_agree(tmp_path, junk):
    _metrics(tmp_path, junk + _row(7, 100.0))
    view = RunView(str(tmp_path))
    view.refresh()
    assert list(view.metrics.steps) == [7.0]
    assert read_progress(str(tmp_path)).step == view.progress_tracker.step == 7


def test_progress_and_run_view_agree_on_a_torn_last_line(tmp_path):
    _metrics(tmp_path, _row(1, 100.0) + _row(2, 101.0)[:-1])  # the newline of row 2 not yet written
    view = RunView(str(tmp_path))
    view.refresh()
    assert read_progress(str(tmp_path)).step == view.progress_tracker.step == 1


def test_check_run_dir_and_run_files_refuse_a_step_past_the_cap(tmp_path):
    """The checker agrees with the readers: a step of 10**300 is no step, nor is 2**63."""
    from jobs.records import check_run_dir
    from trainer.runfiles import RunFiles

    _metrics(tmp_path, _row(2**63 - 1, 100.0) + _row(HUGE, 101.0) + _row(2**63, 102.0))
    problems = check_run_dir(str(tmp_path))
    assert len(problems) == 2 and all("metrics.jsonl" in p and "step" in p for p in problems), problems
    files = RunFiles(tmp_path / "w", enabled=True)
    with pytest.raises(ValueError, match="step"):
        files.metric(HUGE, {"loss": 1.0})
    assert not (tmp_path / "w" / "metrics.jsonl").exists()
