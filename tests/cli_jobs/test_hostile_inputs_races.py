"""Two arcctl processes acting on one job at once: a resume typed in two shells (or the CLI and the
dashboard's auto-resume) must launch the job once. The race is made deterministic by handing the
second resume the row the first one also decided on."""

from __future__ import annotations

import json
import subprocess

import pytest

from jobs.errors import RegistryError
from jobs.recovery import resubmit
from jobs.registry import Registry
from tests.cli_jobs.conftest import ARCCTL, run_cli, wait_for

pytestmark = pytest.mark.timeout(120)


def _state(jid: str) -> str:
    return json.loads(run_cli("show", jid, "--json").stdout)["state"]


def _starts(run_dir) -> int:
    return sum(json.loads(line)["event"] == "started" for line in (run_dir / "events.jsonl").read_text().splitlines())


def test_a_resume_that_lost_the_race_launches_nothing(home):
    jid = run_cli("submit", "fakefail", "--profile", "quick", "-q", check=True).stdout.strip()
    wait_for(lambda: _state(jid) == "failed", 30)
    run_dir = home / "runs" / "fake_lr1e-6"
    reg = Registry()
    seen = reg.get(jid)  # what both resumes read before either wrote
    resubmit(reg, seen)
    with pytest.raises(RegistryError, match="resumed by another arcctl meanwhile"):
        resubmit(reg, seen)
    wait_for(lambda: _state(jid) == "failed" and _starts(run_dir) == 2, 30)
    # the loser left no queue entry behind: another job's start (which pumps the queue) starts nothing more
    other = run_cli("submit", "fake", "--profile", "quick", "--name", "other", "-q", check=True).stdout.strip()
    wait_for(lambda: _state(other) == "completed", 30)
    assert _starts(run_dir) == 2
    assert Registry().get(jid).restarts == 1


def test_resumes_from_three_shells_at_once(home):
    # a stopped job whose resumed run lasts ~20 s: the three resumes overlap however slowly each
    # arcctl starts (a job that fails at once could fail again between two of them, and then a
    # later resume would rightly launch it again)
    jid = run_cli("submit", "fakeslow", "--profile", "quick", "-q", check=True).stdout.strip()
    wait_for(lambda: _state(jid) == "running", 30)
    run_cli("cancel", jid, check=True)
    wait_for(lambda: _state(jid) == "cancelled", 30)
    procs = [
        subprocess.Popen([ARCCTL, "resume", jid], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = [(p.wait(60), *p.communicate()) for p in procs]
    assert sorted(rc for rc, _, _ in results) == [0, 2, 2], results
    for rc, _, err in results:
        # refused by the registry's check, or earlier once the winner's row says it is starting
        refused = "resumed by another arcctl" in err or "cancel it before resuming" in err
        assert rc == 0 or (refused and "Traceback" not in err and err.count("\n") == 1), err
    run_dir = home / "runs" / Registry().get(jid).name
    wait_for(lambda: _starts(run_dir) == 2, 30)
    assert Registry().get(jid).restarts == 1
    run_cli("cancel", jid, check=True)
