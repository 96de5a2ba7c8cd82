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


def test_a_non_ascii_run_dir_reaches_the_htcondor_job_ad_as_it_is(tmp_path):
    """`+ArcctlRunDir` was written as JSON, whose `\\u00e9` ClassAds read as `u00e9`: the job ad
    held another path, and crash recovery confirmed the job of any run dir that mangled alike.
    The stand-in reads the description and the constraint with the real ClassAd library."""
    import json

    import classad2

    from jobs.backends.htcondor import HTCondorBackend
    from tests.clusters import condor_standin as standin
    from tests.clusters.test_htcondor import grpo_seed

    standin.install(tmp_path / "bin", tmp_path / "state")
    b = HTCondorBackend({"bin_dir": str(tmp_path / "bin"), "docker_image": "img"}, shell=LocalShell())
    run_dir = str(tmp_path / 'été "q" a\\b 😀')
    spec = grpo_seed().model_copy(update={"run_dir": run_dir})
    [value] = [v for k, v in b.describe(spec) if k == "+ArcctlRunDir"]
    assert classad2.ExprTree(value).eval() == run_dir
    job = b.submit(spec)
    ad = json.loads((tmp_path / "state" / "queue.json").read_text())["jobs"][job]
    assert ad["ArcctlRunDir"] == run_dir
    assert b.find(spec) == job
    mangled = run_dir.replace("é", "u00e9").replace("😀", "ud83dude00")
    assert b.find(spec.model_copy(update={"run_dir": mangled})) is None


def test_an_ipv6_execute_host_in_the_event_log_is_named_whole(tmp_path):
    """An execute node known by its IPv6 address only (no alias in the sinful string) showed as
    `[2001`; the event log is read by the real htcondor2.JobEventLog."""
    from jobs.backends.condor_events import history_status, read_event_log

    log = tmp_path / "condor.log"
    log.write_text(
        "000 (7.000.000) 2025-09-19 10:00:00 Job submitted from host: <[2001:db8::1]:9618?addrs=[2001-db8--1]-9618>\n"
        "...\n"
        "001 (7.000.000) 2025-09-19 10:00:05 Job executing on host: <[2001:db8::5]:9618?addrs=[2001-db8--5]-9618>\n"
        "...\n"
    )
    st = history_status(read_event_log(str(log))["7.0"])
    assert st.state is JobState.RUNNING and st.extra["host"] == "2001:db8::5"
