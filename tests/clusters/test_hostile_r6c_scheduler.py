"""Scheduler answers that are valid but hostile (round 6c), from a real sshd of this module's own
whose PATH starts with a `date`, `squeue`, `sacct`, `sbatch` and `condor_q` that print what each
test puts in their .out file (a broken or hostile site wrapper; Slurm's own cannot be made to).
The registry is the real sqlite one.

Before: a sacct ExitCode past 64 bits (`99999999999999999999:0`) was an OverflowError out of the
registry's update, the whole refresh's transaction with it; a job id of 5000 digits from squeue or
condor_q and a `date` of 5000 digits were ValueErrors ("Exceeds the limit (4300 digits) for
integer string conversion") out of crash recovery; a `date` decades ahead marked the running job
of an interrupted submit never-run.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from jobs.backends.base import JobState, JobStatus
from jobs.backends.htcondor import HTCondorBackend, parse_cluster_id
from jobs.backends.slurm import SlurmBackend
from jobs.registry import Registry
from jobs.scheduler_shell import CommandError, SSHShell
from jobs.ssh_transport import SSHPool
from tests.clusters import daemons
from tests.clusters.conftest import make_spec

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(60)]
TOOLS = ("date", "squeue", "sacct", "sbatch", "condor_q", "stat")


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    if os.geteuid() != 0 or not os.path.exists(daemons.SSHD_BINARY):
        pytest.skip("a loopback sshd needs root and /usr/sbin/sshd")
    root = tmp_path_factory.mktemp("hostile-tools-sshd")
    bindir = root / "bin"
    bindir.mkdir()
    for name in TOOLS:  # each prints its .out file, or falls through to the real tool
        real = f"/usr/bin/{name}" if name in ("date", "stat") else "false"
        (bindir / name).write_text(
            f'#!/bin/sh\n[ -f {bindir}/{name}.out ] && exec cat {bindir}/{name}.out\nexec {real} "$@"\n'
        )
        (bindir / name).chmod(0o755)
    server = daemons.ensure_sshd(root, setenv={"PATH": f"{bindir}:/usr/bin:/bin"})
    yield server, bindir
    server.stop()


@pytest.fixture
def tools(host, tmp_path):
    server, bindir = host
    pool = SSHPool(server.ssh_config(tmp_path / "ssh_config", alias="h"))

    def say(name: str, text: str) -> None:
        (bindir / f"{name}.out").write_text(text)

    yield SSHShell("h", pool), say
    for name in TOOLS:
        (bindir / f"{name}.out").unlink(missing_ok=True)
    pool.close()


def test_an_exit_code_past_64_bits_does_not_lose_the_refresh(tools, tmp_path):
    shell, say = tools
    say("squeue", "")  # both jobs finished: squeue has forgotten them
    say("sacct", "41|FAILED|99999999999999999999:0|None\n42|COMPLETED|0:0|None\n")
    got = SlurmBackend({}, "h", shell=shell).status(["41", "42"])
    assert got["41"].state is JobState.FAILED and got["41"].exit_code is None
    assert got["42"].state is JobState.COMPLETED and got["42"].exit_code == 0
    # the registry takes both in one transaction (was OverflowError: both states lost)
    reg = Registry(tmp_path / "registry.db")
    a = reg.reserve(make_spec(tmp_path / "a", "a"))
    b = reg.reserve(make_spec(tmp_path / "b", "b"))
    assert reg.update_statuses({a: got["41"], b: got["42"]}) == 2
    assert reg.get(a).state == "failed" and reg.get(b).state == "completed"
    assert JobStatus(JobState.FAILED, exit_code=-(2**70)).exit_code is None
    assert JobStatus(JobState.FAILED, exit_code=3).exit_code == 3


def test_slurm_job_ids_past_64_bits_are_no_job_ids(tools, tmp_path):
    shell, say = tools
    spec = make_spec(tmp_path / "run", "run")
    backend = SlurmBackend({}, "h", shell=shell)
    say("squeue", f"{'9' * 5000}|{int(time.time()) + 60}|{spec.run_dir}|\n")
    assert backend.find(spec) is None  # was a ValueError traceback out of crash recovery
    say("squeue", f"{2**64}|{int(time.time()) + 60}|{spec.run_dir}|\n77|{int(time.time()) + 60}|{spec.run_dir}|\n")
    assert backend.find(spec) == "77"
    say("sbatch", "9" * 5000 + "\n")
    with pytest.raises(CommandError) as e:
        backend.submit(spec)
    assert str(e.value) == f"sbatch on h returned no job id: {'9' * 80 + '…'!r}"


def test_condor_cluster_ids_past_64_bits_are_no_job_ids(tools, tmp_path):
    shell, say = tools
    spec = make_spec(tmp_path / "run", "run")
    now = int(time.time()) + 60
    ads = [{"ClusterId": "9" * 5000, "ProcId": 0, "QDate": now, "ArcctlRunDir": spec.run_dir}]
    say("condor_q", json.dumps(ads))
    backend = HTCondorBackend({}, "h", shell=shell)
    assert backend.find(spec) is None  # was a ValueError traceback
    ads.append({"ClusterId": 12, "ProcId": 0, "QDate": now, "ArcctlRunDir": spec.run_dir})
    say("condor_q", json.dumps(ads))
    assert backend.find(spec) == "12.0"
    with pytest.raises(CommandError):
        parse_cluster_id(f"1 job(s) submitted to cluster {2**64}.\n", "h")


@pytest.mark.parametrize(
    "date",
    ["9" * 5000, str(int(time.time()) + 40 * 365 * 86400), "-5", "now"],
    ids=["5000-digits", "40-years-ahead", "negative", "no-number"],
)
def test_a_host_date_that_is_no_clock_leaves_the_clocks_as_they_are(tools, tmp_path, date):
    shell, say = tools
    say("date", date + "\n")
    spec = make_spec(tmp_path / "run", "run")
    submitted = int(spec.created.timestamp()) + 2  # just after the spec, on a host whose clock is right
    say("squeue", f"55|{submitted}|{spec.run_dir}|\n")
    assert SlurmBackend({}, "h", shell=shell).find(spec) == "55"  # was a traceback, or None (never-run)


def test_a_host_date_a_day_behind_is_still_gone_by(tools, tmp_path):
    shell, say = tools
    say("date", str(int(time.time()) - 86400) + "\n")
    spec = make_spec(tmp_path / "run", "run")
    say("squeue", f"56|{int(spec.created.timestamp()) - 86400 + 2}|{spec.run_dir}|\n")
    assert SlurmBackend({}, "h", shell=shell).find(spec) == "56"


def test_a_condor_q_that_ignores_the_constraint_confirms_no_strangers_job(tools, tmp_path):
    # a site's wrapper that drops -constraint: every queued job of the pool, 20k of them
    shell, say = tools
    spec = make_spec(tmp_path / "run", "run", backend="htcondor")
    now = int(time.time()) + 60
    ads = [
        {"ClusterId": i, "ProcId": 0, "QDate": now, "ArcctlRunDir": f"/home/other/runs/{i}"} for i in range(1, 20_001)
    ]
    ads.append({"ClusterId": 200_000, "ProcId": 0, "QDate": now})  # no ArcctlRunDir: not arcctl's
    say("condor_q", json.dumps(ads))
    backend = HTCondorBackend({}, "h", shell=shell)
    assert backend.find(spec) is None  # was "200000.0": a stranger's job confirmed as this one
    ads.insert(500, {"ClusterId": 31, "ProcId": 0, "QDate": now, "ArcctlRunDir": spec.run_dir})
    say("condor_q", json.dumps(ads))
    t0 = time.monotonic()
    assert backend.find(spec) == "31.0"
    assert (
        time.monotonic() - t0 < 30
    )  # ~1.2 s at 100k jobs on the shared 2-core VM; 20k keeps the test quick under load


def test_slurm_status_and_find_among_20k_jobs(tools, tmp_path):
    # a squeue wrapper that ignores -j / --name: every job of the cluster
    shell, say = tools
    spec = make_spec(tmp_path / "run", "run")
    say("squeue", "".join(f"{i}|PENDING|0|0|Priority|\n" for i in range(1, 20_001)))
    backend = SlurmBackend({}, "h", shell=shell)
    t0 = time.monotonic()
    got = backend.status(["5", "19999"])
    assert got["19999"].state is JobState.QUEUED and set(got) == {"5", "19999"}
    now = int(time.time()) + 60
    say("squeue", "".join(f"{i}|{now}|/home/other/{i}|\n" for i in range(1, 20_001)) + f"7|{now}|{spec.run_dir}|\n")
    assert backend.find(spec) == "7"
    assert time.monotonic() - t0 < 30  # ~1.6 s for both at 100k jobs on the shared 2-core VM
