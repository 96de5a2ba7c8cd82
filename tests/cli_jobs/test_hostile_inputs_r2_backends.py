"""Job ads from condor_q whose attributes are not the numbers the backend expected (null, text,
1e400): the status pass used to raise TypeError/ValueError on the first such ad, so every job of
the backend lost its status. A small script stands in for condor_q (no HTCondor daemons here)."""

from __future__ import annotations

import json

import pytest

from jobs.backends.base import JobState
from jobs.backends.htcondor import HTCondorBackend
from jobs.scheduler_shell import LocalShell

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
