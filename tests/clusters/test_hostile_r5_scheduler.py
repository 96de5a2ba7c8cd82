"""Scheduler output with free text in it (round 5), against the real Slurm where it can print it.

- crash recovery (`SlurmBackend.find`) split squeue's `JobID|WorkDir|SubmitTime|` at every `|`:
  a run dir with a `|` in it (a `--name 'a|b'`, a runs_root) never matched, so the job sbatch
  had started was marked never-run (and a later submit ran it twice). The work dir is now the
  last field, split off once.
- the status listing put the reason (free text Slurm may fill from an error) before the exit
  code and the restart count: a `|` in it shifted both. The reason is now last.
"""

from __future__ import annotations

import os

import pytest

from jobs.backends.base import JobState
from jobs.backends.slurm import SlurmBackend
from jobs.scheduler_shell import LocalShell
from tests.clusters.conftest import make_spec, wait_for

pytestmark = pytest.mark.timeout(180)


@pytest.mark.slurm
def test_crash_recovery_finds_a_job_whose_run_dir_holds_a_pipe_sign(slurm, tmp_path):
    b = SlurmBackend({"slurm_conf": str(slurm.conf)})
    run = tmp_path / "lr|1e-6 sweep é"
    spec = make_spec(run, "pipe|name", env={"FAKE_STEPS": 2, "FAKE_STEP_S": 0.1})
    job = b.submit(spec)
    assert b.find(spec) == job
    done = wait_for(lambda: b.status([job])[job].state.terminal and b.status([job])[job], what="the job to end")
    assert done.state is JobState.COMPLETED and (run / "stdout.log").exists()


def test_a_reason_with_a_pipe_sign_does_not_shift_exit_code_or_restarts(tmp_path, monkeypatch):
    """Slurm's own squeue cannot be made to print such a reason here: a script in its place prints
    what the format asks for, as tests/clusters/test_hostile_r4_server.py does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "squeue"
    # the fields in the order the backend asks for them (its -O argument), the reason with a `|`
    tool.write_text(
        "#!/bin/sh\n"
        'case "$*" in *Reason:\\|) ;; *) echo "unexpected format: $*" >&2; exit 1 ;; esac\n'
        "echo '5|PENDING|0|2|launch failed|requeued held|'\n"
        "echo '6|FAILED|768|0|NonZeroExitCode|'\n"
    )
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    got = SlurmBackend({}, shell=LocalShell()).status(["5", "6"])
    assert got["5"].state is JobState.QUEUED and got["5"].extra["restarts"] == 2
    assert got["5"].extra["slurm_reason"] == "launch failed|requeued held"
    assert got["6"].state is JobState.FAILED and got["6"].exit_code == 3
