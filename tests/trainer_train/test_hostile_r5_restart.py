"""Round 5: a run started again in its own dir after a crash (SIGKILL, OOM, a node lost: no
checkpoint at the step it died in) continues from its newest valid checkpoint. The rows its
earlier attempt wrote after that checkpoint, and the save it was killed in, go aside; the run dir
then holds each step once."""

from __future__ import annotations

import shutil
from collections import Counter

import pytest

from jobs import records, rundir

from .helpers import completions, events, metrics, run_trainer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(500)]


def test_a_restart_after_a_crash_writes_each_step_once(tmp_path, small_grpo_spec):
    run_dir = tmp_path / "run"
    small_grpo_spec(run_dir, max_steps=2, save_steps=1).write()
    first = run_trainer("run", str(run_dir))
    assert first.returncode == 0, first.stderr[-3000:]
    # The state a kill during the save of step 2 leaves: step 2's rows are written, its checkpoint
    # holds the adapter but not yet trainer_state.json.
    (run_dir / "checkpoint-2" / "trainer_state.json").unlink()
    shutil.rmtree(run_dir / "checkpoint-2" / "rng_state.pth", ignore_errors=True)
    n_step2 = sum(c["step"] == 2 for c in completions(run_dir))
    with open(run_dir / rundir.METRICS, "a") as f:
        f.write('{"step": 3, "lo')  # and a torn line of the step it never finished

    again = run_trainer("run", str(run_dir))
    assert again.returncode == 0, again.stderr[-3000:]
    assert [m["step"] for m in metrics(run_dir)] == [1, 2]
    ids = Counter(c["id"] for c in completions(run_dir))
    assert ids and max(ids.values()) == 1, [i for i, n in ids.items() if n > 1]
    assert sum(c["step"] == 2 for c in completions(run_dir)) == n_step2
    [moved] = [e for e in events(run_dir) if e["event"] == "resumed"]
    assert moved["checkpoint"] == "checkpoint-1" and moved["moved_checkpoints"] == ["checkpoint-2"]
    assert moved["moved_rows"] == {"metrics.jsonl": 2, "completions.jsonl": n_step2}
    branch = run_dir / moved["branch"]
    assert sorted(p.name for p in branch.iterdir()) == ["checkpoint-2", "completions.jsonl", "metrics.jsonl"]
    assert rundir.newest_valid_checkpoint(str(run_dir)).step == 2  # saved again, whole
    assert records.check_run_dir(str(run_dir)) == []
