"""condor_q output the backend did not expect: JSON that is not a list of ads, nested too deeply,
or a queue date that is not a number (a small script in the tool's place, as the stand-in is).
Status gives one error line (the watcher reports it) and crash recovery's find "cannot tell",
never a traceback out of `arcctl ls`."""

from __future__ import annotations

import pytest

from jobs.backends.htcondor import HTCondorBackend
from jobs.scheduler_shell import CommandError, LocalShell
from tests.clusters.conftest import make_spec


@pytest.mark.parametrize(
    "printed", ["5", '{"ClusterId": 1}', "[" * 100_000 + "]" * 100_000], ids=["number", "one-ad", "deep"]
)
def test_condor_q_printing_json_that_is_not_ads_is_one_error(tmp_path, printed):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "out.json").write_text(printed)
    tool = bin_dir / "condor_q"
    tool.write_text(f"#!/bin/sh\ncat {tmp_path / 'out.json'}\n")
    tool.chmod(0o755)
    b = HTCondorBackend({"bin_dir": str(bin_dir)}, shell=LocalShell())
    with pytest.raises(CommandError, match="condor_q on localhost printed"):
        b.status(["1.0"])
    assert b.find(make_spec(tmp_path / "run", backend="htcondor")) is None


def test_condor_q_with_a_queue_date_that_is_not_a_number(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "condor_q"
    tool.write_text('#!/bin/sh\necho \'[{"ClusterId": 7, "ProcId": 0, "QDate": "yesterday"}]\'\n')
    tool.chmod(0o755)
    b = HTCondorBackend({"bin_dir": str(bin_dir)}, shell=LocalShell())
    assert b.find(make_spec(tmp_path / "run", backend="htcondor")) is None
