"""Round 6: a run started again in its own dir moves the rows after its checkpoint aside
(lifecycle.restart_aside / branch_aside). metrics.jsonl and completions.jsonl were read whole,
and split into two more lists, before anything moved: a long run's gigabytes of completions (or a
sparse 20 GB file of zeros) exhausted the memory of the restarting job, a MemoryError traceback.
They are now streamed line by line, and a line past 16 MiB, which the trainer never writes, stops
the restart in one line naming the file before anything moves."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.trainer_train.helpers import REPO, env

pytestmark = pytest.mark.timeout(120)

# the restart, in a process whose heap is limited to what it has plus 300 MB
RESTART = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    from jobs.errors import SpecError
    from jobs.spec import JobSpec
    from trainer import lifecycle
    from trainer.runfiles import RunFiles

    def vm_size():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

    run_dir = Path(sys.argv[1])
    spec = JobSpec(kind="grpo", name="r", template="grpo", run_dir=str(run_dir),
                   params={"model_path": "m", "dataset": "arc1/train"})
    resource.setrlimit(resource.RLIMIT_AS, (vm_size() + 300 * 2**20, resource.getrlimit(resource.RLIMIT_AS)[1]))
    try:
        moved = lifecycle.restart_aside(spec, run_dir, RunFiles(run_dir, enabled=True), sys.argv[2] or None)
    except SpecError as e:
        print(f"error: {e}")
        sys.exit(2)
    print(moved["moved_rows"])
    """
)


def _restart(run_dir, resume: str = "") -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", RESTART, str(run_dir), resume]
    return subprocess.run(cmd, cwd=REPO, env=env(), capture_output=True, text=True, timeout=100)


def _checkpoint(run_dir, step: int):
    ck = run_dir / f"checkpoint-{step}"
    ck.mkdir()
    (ck / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (ck / "adapter_model.safetensors").write_bytes(b"x")
    return ck


def test_rows_larger_than_the_memory_left_are_moved_aside(tmp_path):
    """240 MB of completions, 500 KB a row: read whole and split, past what the restart may allocate."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    ck = _checkpoint(run_dir, 240)
    filler = "x" * 500_000
    with open(run_dir / "completions.jsonl", "w") as f:
        for step in range(1, 481):
            f.write(json.dumps({"step": step, "completion": filler}) + "\n")
    proc = _restart(run_dir, str(ck))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "{'metrics.jsonl': 0, 'completions.jsonl': 240}"
    kept = (run_dir / "completions.jsonl").read_bytes().splitlines()
    assert [json.loads(x)["step"] for x in kept] == list(range(1, 241))
    (branch,) = (run_dir / "branches").iterdir()
    with open(branch / "completions.jsonl", "rb") as f:
        assert [json.loads(x)["step"] for x in f] == list(range(241, 481))


def test_a_sparse_file_of_zeros_is_one_line_before_anything_moves(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _checkpoint(run_dir, 5)
    later = _checkpoint(run_dir, 9)
    rows = b'{"step": 4}\n{"step": 7}\n'
    (run_dir / "metrics.jsonl").write_bytes(rows)
    with open(run_dir / "completions.jsonl", "wb") as f:
        f.truncate(20 << 30)  # 20 GB, no newline
    proc = _restart(run_dir, str(run_dir / "checkpoint-5"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stdout.strip() == (
        f"error: {run_dir / 'completions.jsonl'}: line 1 is longer than 16 MiB, no record the trainer writes; "
        "the run's rows cannot be split at the checkpoint: move the file aside"
    )
    assert (run_dir / "metrics.jsonl").read_bytes() == rows and later.is_dir()
    assert not (run_dir / "branches").exists()
