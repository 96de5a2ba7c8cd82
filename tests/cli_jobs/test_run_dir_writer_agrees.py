"""The trainer's writer (trainer.runfiles.RunFiles) and the strict checker
(jobs.records.check_run_dir) agree: every record kind the writer writes, with edge values (NaN and
infinite metrics, empty strings, unicode, huge and negative numbers), either lands in the run dir
in a form the checker accepts, or is refused at write time naming the file and the field, with
nothing written. Before, the writer checked in pydantic's lax mode and wrote the value it was
given: `step=True` or `step="5"` passed and was written as `true` / `"5"`, which the checker
(and every reader) refuses; a NaN metric, which docs/run-dir.md says is written as null, stopped
the run with an error; a NaN reward was written as a bare `NaN` token, which is not JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from jobs import records, rundir
from trainer.runfiles import RunFiles

REPO = Path(__file__).resolve().parents[2]
GOOD_COMPLETION = json.loads(
    (REPO / "tests/health/traces/real_tiny_cpu_lr1e-2/completions.jsonl").read_text().splitlines()[0]
)
TEXT = "é漢😀\u202e\u2028\x85\x1c\x1b]0;t\x07\ud800"  # unicode, bidi, line/record separators, a lone surrogate
HUGE = 2**63 - 1  # the largest step the contract allows (jobs.rundir.MAX_STEP), far past any run
PAST_FLOAT = 10**400  # a reader reads it as inf
DIAG = GOOD_COMPLETION["diag"]
HER_COMPLETION = {
    "step": 1,
    "task_id": "",
    "epoch": 1,
    "rank": 0,
    "completion": TEXT,
    "program": None,
    "reward": 0.0,
    "pixel_score": 0.0,
    "solved": False,
    "correct_test": None,
    "temperature": 0.9,
    "n_tokens": 0,
    "truncated": False,
    "error": None,
    "diag": DIAG,
}


def write_every_kind(files: RunFiles) -> None:
    """One record of every kind the trainer writes, with edge values the contract allows."""
    files.metric(0, {"reward": -5.0, "kl": math.nan, "loss": math.inf, "entropy": -math.inf, "big": PAST_FLOAT})
    files.metric(HUGE, {"reward": 1e308, "": 1, "arc/ünï": 2, "note": "text", "flag": True, "none": None})
    files.completions([{**GOOD_COMPLETION, "task_id": "", "completion": TEXT, "step": HUGE, "n_tokens": 0}])
    files.completions([HER_COMPLETION])
    files.started(kind="grpo", step=0, tasks=0, dataset="", targets=[TEXT])
    files.event("checkpoint_saved", step=HUGE, path=TEXT)
    files.warning("", step=0, tasks=[], problem=TEXT)
    files.event("resumed", checkpoint="checkpoint-0", step=0, resume_id="", moved_rows={"metrics.jsonl": 0})
    files.event(
        "collapse_warning",
        step=1,
        action="none",
        guard="warn",
        rule="kl_spike",
        severity="watch",
        steps={"watch": 1},
        evidence={"signals": {"kl": {"value": math.nan, "ratio": math.inf}}},
    )
    files.event("rollback", step=1, status="refused", changes={"learning_rate": 0.5}, rollbacks_before=0)
    files.event(
        "her_epoch", step=1, task_id=TEXT, target=0, epoch=1, solved=False, best_pixel_score=math.nan, test_correct=None
    )
    files.event("her_target", task_id="", target=0, solved=True, solved_at=1, epochs=1, best_pixel_score=1.0)
    files.event("stopped", reason="completed", step=HUGE, train_loss=math.nan, total_flos=PAST_FLOAT, n_tasks=0)
    files.event("error", message=TEXT, kind="")


def test_every_record_kind_with_edge_values_passes_the_checker(tmp_path):
    files = RunFiles(tmp_path, enabled=True)
    write_every_kind(files)
    files.close()
    assert records.check_run_dir(str(tmp_path)) == []
    m = rundir.read_jsonl(tmp_path / rundir.METRICS)
    assert m[0]["reward"] == -5.0 and m[0]["kl"] is m[0]["loss"] is m[0]["entropy"] is m[0]["big"] is None
    assert m[1]["step"] == HUGE and m[1]["arc/ünï"] == 2 and "note" not in m[1] and "flag" not in m[1]
    [c, her] = rundir.read_jsonl(tmp_path / rundir.COMPLETIONS)
    assert c["completion"] == TEXT and c["task_id"] == "" and c["step"] == HUGE and her["rank"] == 0
    events = rundir.read_jsonl(tmp_path / rundir.EVENTS)
    assert [e["event"] for e in events] == [
        "started",
        "checkpoint_saved",
        "warning",
        "resumed",
        "collapse_warning",
        "rollback",
        "her_epoch",
        "her_target",
        "stopped",
        "error",
    ]
    assert events[4]["evidence"]["signals"]["kl"] == {"value": None, "ratio": None}
    assert events[6]["best_pixel_score"] is None and events[8]["train_loss"] is None
    assert events[8]["total_flos"] is None and events[9]["message"] == TEXT
    for name in (rundir.METRICS, rundir.COMPLETIONS, rundir.EVENTS):  # JSON any reader takes
        for line in (tmp_path / name).read_text().splitlines():
            json.loads(line, parse_constant=lambda token: pytest.fail(f"{name}: {token} in {line}"))


REFUSED = [
    # (write, file, what the error names)
    (lambda f: f.metric(True, {"reward": 1.0}), "metrics.jsonl", "step: Input should be a valid integer"),
    (lambda f: f.metric("5", {"reward": 1.0}), "metrics.jsonl", "step: Input should be a valid integer"),
    (lambda f: f.metric(-1, {"reward": 1.0}), "metrics.jsonl", "step: Input should be greater than or equal to 0"),
    (lambda f: f.metric(PAST_FLOAT, {}), "metrics.jsonl", "step: Input should be a valid integer"),
    (lambda f: f.metric(10**5000, {}), "metrics.jsonl", "step: Input should be a valid integer"),
    (lambda f: f.metric(2**63, {}), "metrics.jsonl", "step: Input should be less than or equal to"),
    (lambda f: f.completions([{**GOOD_COMPLETION, "reward": math.nan}]), "completions.jsonl", "reward:"),
    (lambda f: f.completions([{**GOOD_COMPLETION, "n_tokens": -1}]), "completions.jsonl", "n_tokens:"),
    (lambda f: f.completions([{**GOOD_COMPLETION, "truncated": 1}]), "completions.jsonl", "truncated:"),
    (lambda f: f.completions([{**HER_COMPLETION, "epoch": 0}]), "completions.jsonl", "epoch:"),
    (lambda f: f.event("checkpoint_saved", step=-3, path="p"), "events.jsonl", "checkpoint_saved.step:"),
    (lambda f: f.event("checkpoint_saved", step=True, path="p"), "events.jsonl", "checkpoint_saved.step:"),
    (lambda f: f.event("her_epoch", step=1, task_id="t", target=-1, epoch=1, solved=True), "events.jsonl", "target"),
    (lambda f: f.event("her_epoch", step=1, task_id="t", target=0, epoch=1, solved="yes"), "events.jsonl", "solved"),
    (lambda f: f.event("stopped", reason="completed", step=1.0), "events.jsonl", "stopped.step:"),
]


@pytest.mark.parametrize("write, name, named", REFUSED, ids=[r[2][:30] for r in REFUSED])
def test_what_the_checker_would_refuse_is_refused_at_write_time(tmp_path, write, name, named):
    files = RunFiles(tmp_path, enabled=True)
    with pytest.raises(ValueError, match=r"does not match jobs.records") as e:
        write(files)
    assert f"{tmp_path / name}: " in str(e.value) and named in str(e.value) and "\n" not in str(e.value)
    files.close()
    assert not (tmp_path / name).exists()  # nothing of it written
    assert records.check_run_dir(str(tmp_path)) == []


def test_a_refused_completion_writes_none_of_its_batch(tmp_path):
    files = RunFiles(tmp_path, enabled=True)
    with pytest.raises(ValueError, match="completions.jsonl"):
        files.completions([GOOD_COMPLETION, {**GOOD_COMPLETION, "step": -1}])
    files.close()
    assert not (tmp_path / rundir.COMPLETIONS).exists()


def test_the_checker_refuses_what_readers_cannot_take(tmp_path):
    """NaN tokens (Python's json writes them; other JSON readers refuse them), negative steps,
    invalid UTF-8; and a line is split only at \\n, as the readers split it."""
    text = json.dumps({**GOOD_COMPLETION, "completion": "a\u2028b\x85c\x1cd"}, ensure_ascii=False)
    (tmp_path / rundir.COMPLETIONS).write_text(text + "\n")
    metrics = ['{"step": 1, "time": 1.0, "reward": NaN}', '{"step": -1, "time": 1.0}', '{"step": 2, "time": 1.0}']
    (tmp_path / rundir.METRICS).write_bytes(
        ("\n".join(metrics) + "\n").encode() + b'{"step": 3, "time": 1, "x": "\xff"}\n'
    )
    with open(tmp_path / rundir.EVENTS, "wb") as f:  # a byte-order mark, a CRLF line end (JSON takes the \r)
        f.write(
            b'\xef\xbb\xbf{"event": "error", "time": 1, "message": "m"}\r\n{"event": "error", "time": 2, "message": "m"}\r\n'
        )
    problems = records.check_run_dir(str(tmp_path))
    assert problems[3:] == [f"{tmp_path}/events.jsonl:1: starts with a byte-order mark (not JSON)"], problems
    problems = problems[:3]
    assert problems[0].endswith("metrics.jsonl:1: NaN is not JSON (a number that is not finite is written as null)")
    assert problems[1].endswith("metrics.jsonl:2: step: Input should be greater than or equal to 0")
    assert "metrics.jsonl:4: 'utf-8' codec can't decode" in problems[2]
