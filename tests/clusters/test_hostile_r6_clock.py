"""Crash recovery against a cluster whose clock is behind this machine's (round 6). `find`
confirms the job of a submit interrupted after sbatch/condor_submit by its run dir and a submit
time no earlier than the spec's (less 5 s of slack), comparing the host's clock with this one's:
a host an hour behind put its new job an hour "before" the spec, and the running job was marked
never-run. The host here is a real sshd of this module's own whose PATH starts with a `date` that
is an hour behind and a `squeue`/`condor_q` that print what such a host's scheduler prints."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from jobs.backends.htcondor import HTCondorBackend
from jobs.backends.slurm import SlurmBackend
from jobs.scheduler_shell import SSHShell
from jobs.ssh_transport import SSHPool
from tests.clusters import daemons
from tests.clusters.conftest import make_spec

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(60)]

BEHIND = 3600


@pytest.fixture(scope="module")
def slow_clock(tmp_path_factory):
    if os.geteuid() != 0 or not os.path.exists(daemons.SSHD_BINARY):
        pytest.skip("a loopback sshd needs root and /usr/sbin/sshd")
    root = tmp_path_factory.mktemp("slow-clock-sshd")
    bindir = root / "bin"
    bindir.mkdir()
    (bindir / "date").write_text(f"#!/bin/sh\necho $(( $(/bin/date +%s) - {BEHIND} ))\n")
    (bindir / "date").chmod(0o755)
    server = daemons.ensure_sshd(root, setenv={"PATH": f"{bindir}:/usr/bin:/bin"})
    yield server, bindir
    server.stop()


def _tool(bindir: Path, name: str, text: str) -> None:
    (bindir / f"{name}.out").write_text(text)
    (bindir / name).write_text(f"#!/bin/sh\ncat {bindir}/{name}.out\n")
    (bindir / name).chmod(0o755)


@pytest.fixture
def shell(slow_clock, tmp_path):
    server, _ = slow_clock
    pool = SSHPool(server.ssh_config(tmp_path / "ssh_config", alias="h"))
    yield SSHShell("h", pool)
    pool.close()


def test_slurm_find_confirms_the_job_of_a_host_whose_clock_is_behind(slow_clock, shell, tmp_path):
    _, bindir = slow_clock
    spec = make_spec(tmp_path / "run", "run")
    host_now = int(time.time()) - BEHIND  # the host's clock when its sbatch ran, after the spec was made
    _tool(bindir, "squeue", f"41|{host_now - 600}|{spec.run_dir}|\n42|{host_now}|{spec.run_dir}|\n")
    b = SlurmBackend({}, host="h", shell=shell)
    assert b.find(spec) == "42"  # was None: 42 was "submitted" an hour before its spec
    _tool(bindir, "squeue", f"41|{host_now - 600}|{spec.run_dir}|\n")
    assert b.find(spec) is None  # the job from before the spec (a resume's old job) is not it


def test_htcondor_find_confirms_the_job_of_a_host_whose_clock_is_behind(slow_clock, shell, tmp_path):
    _, bindir = slow_clock
    spec = make_spec(tmp_path / "run", "run", backend="htcondor")
    host_now = int(time.time()) - BEHIND
    ads = [{"ClusterId": 7, "ProcId": 0, "QDate": host_now - 600}, {"ClusterId": 8, "ProcId": 0, "QDate": host_now}]
    for ad in ads:  # what condor_q prints of the attributes find asks for
        ad["ArcctlRunDir"] = spec.run_dir
    _tool(bindir, "condor_q", json.dumps(ads))
    b = HTCondorBackend({}, host="h", shell=shell)
    assert b.find(spec) == "8.0"
    _tool(bindir, "condor_q", json.dumps(ads[:1]))
    assert b.find(spec) is None
