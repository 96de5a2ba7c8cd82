"""Scheduler-facing values of the wrong type. Job ads from condor_q whose attributes are not the
numbers the backend expected (null, text, 1e400): the status pass used to raise on the first such
ad, so every job of the backend lost its status (a small script stands in for condor_q: no
HTCondor daemons here). Profile [options] of the wrong TOML type, which were used as they came."""

from __future__ import annotations

import json

import pytest

from jobs.backends.base import JobState
from jobs.backends.htcondor import HTCondorBackend
from jobs.backends.local import LocalBackend
from jobs.errors import SpecError
from jobs.launch import render
from jobs.scheduler_shell import LocalShell
from jobs.submit import build_specs
from tests.cli_jobs.conftest import one_line_error, run_cli

pytestmark = pytest.mark.timeout(60)

GOOD = {"ClusterId": 2, "ProcId": 0, "JobStatus": 2, "NumJobStarts": 1}
BAD_ADS = {
    "status_null": {"JobStatus": None},
    "status_text": {"JobStatus": "running"},
    "status_huge": {"JobStatus": 1e400},
    "starts_text": {"JobStatus": 1, "NumJobStarts": "twice"},
    "memory_hold_text": {"JobStatus": 5, "HoldReasonCode": 34, "HoldReason": "memory", "MemoryUsage": "big"},
    "exit_signal_name": {"JobStatus": 4, "ExitBySignal": True, "ExitSignal": "KILL"},
    "exit_code_null": {"JobStatus": 4, "ExitCode": None},
}


@pytest.mark.parametrize("attrs", BAD_ADS.values(), ids=list(BAD_ADS))
def test_an_ad_with_attributes_of_the_wrong_type_costs_only_its_details(tmp_path, attrs):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # 1e400 is what a C printf of an overflowing double gives; Python's json reads it as inf
    text = json.dumps([{"ClusterId": 1, "ProcId": 0, **attrs}, GOOD]).replace("Infinity", "1e400")
    (tmp_path / "ads.json").write_text(text)
    tool = bin_dir / "condor_q"
    tool.write_text(f"#!/bin/sh\ncat {tmp_path / 'ads.json'}\n")
    tool.chmod(0o755)
    got = HTCondorBackend({"bin_dir": str(bin_dir)}, shell=LocalShell()).status(["1.0", "2.0"])
    assert got["2.0"].state is JobState.RUNNING  # the neighbour keeps its status
    assert got["1.0"].state in set(JobState)
    if attrs.get("JobStatus") == 5:
        assert got["1.0"].state is JobState.HELD and got["1.0"].reason == "memory_exceeded"
    if attrs.get("JobStatus") == 4:
        assert got["1.0"].state in (JobState.COMPLETED, JobState.FAILED)


# ---- profile options of the wrong type ------------------------------------------------------------

BAD_OPTIONS = [
    ("slurm", 'sbatch_args = "--exclusive"', "expected a list of strings"),  # was one #SBATCH line per character
    ("slurm", 'requeue = "false"', "expected true or false"),  # was --requeue
    ("slurm", 'partition = ["gpu", "cpu"]', "expected a string"),  # was --partition="['gpu', 'cpu']"
    ("slurm", 'start_delay_s = "soon"', "expected a number of seconds"),  # was a ValueError traceback
    ("slurm", 'env = "HF_HOME=/x"', "expected a table"),  # was a TypeError traceback
    ("htcondor", "start_delay_s = inf", "expected a number of seconds"),  # was an OverflowError traceback
    ("htcondor", 'transfer_input_files = "data.json"', "expected a list of strings"),  # was "d,a,t,a,..."
    ("htcondor", "submit_commands = 5", "expected a table"),  # was an AttributeError traceback
    ("htcondor", 'max_retries = "x"', "expected a whole number"),  # was a ValueError traceback
    ("htcondor", 'hold_on_oom = "no"', "expected true or false"),  # was on
]


def test_profile_options_of_the_wrong_type_are_one_line_each(home):
    profile = home.parent / "config" / "profiles" / "mine.toml"
    for backend, option, needle in BAD_OPTIONS:
        profile.write_text(f'[profile]\nbackend = "{backend}"\nruns_root = "/tmp"\n[options]\n{option}\n')
        with pytest.raises(SpecError, match=f"profile mine: \\[options\\] {option.split()[0]} = .*{needle}"):
            render(build_specs("fake", profile="mine"))
    one_line_error(run_cli("render", "fake", "--profile", "mine"), "hold_on_oom = 'no'")
    profile.write_text('[profile]\nbackend = "htcondor"\nruns_root = "/tmp"\n[options]\ngetenv = "HOME, PATH"\n')
    ((_, artifact),) = render(build_specs("fake", profile="mine"))
    assert "getenv = HOME, PATH" in artifact.text


@pytest.mark.parametrize("backend", ["slurm", "htcondor"])
def test_a_time_limit_of_zero_is_refused(home, backend):
    """`time = "0"` passed: Slurm reads --time=0 as no limit at all (as it reads --mem=0 as the
    whole node), HTCondor got allowed_execute_duration = 0."""
    profile = home.parent / "config" / "profiles" / "mine.toml"
    profile.write_text(f'[profile]\nbackend = "{backend}"\nruns_root = "/tmp"\n')
    for zero in ["0", "00:00", "00:00:00", "0-0", "0-00:00:00"]:
        with pytest.raises(SpecError, match=f"resources.time: '{zero}' is no time"):
            render(build_specs("fake", [f"resources.time={zero}"], profile="mine"))
    ((_, artifact),) = render(build_specs("fake", ["resources.time=0:30"], profile="mine"))
    assert ("--time=0:30" if backend == "slurm" else "allowed_execute_duration = 30") in artifact.text


def test_local_visible_gpus_are_indices_or_uuids_each_once(home):
    """`visible_gpus = 5` was a TypeError traceback; "0,0" let one 2-GPU job have GPU 0 twice."""
    profile = home.parent / "config" / "profiles" / "mine.toml"
    for bad in ["5", '"0,0"', "[true]", '"-1"', "{a = 1}", '"0;1"']:
        profile.write_text(f'[profile]\nbackend = "local"\n[options]\nvisible_gpus = {bad}\n')
        with pytest.raises(SpecError, match="visible_gpus = .*each once"):
            render(build_specs("fake", ["resources.gpus=2"], profile="mine"))
    for good, gpus in [('"0, 1"', ["0", "1"]), ("[2, 3]", ["2", "3"]), ('"GPU-8f2a-11,MIG-1/2/3"', None), ('""', [])]:
        profile.write_text(f'[profile]\nbackend = "local"\n[options]\nvisible_gpus = {good}\n')
        (spec,) = build_specs("fake", ["resources.gpus=2"], profile="mine")
        render([spec])
        if gpus is not None:
            assert [g.index for g in LocalBackend(spec.backend_options).gpus()] == gpus
