"""Shell completion through the real binary (typer's bash and zsh protocols) and `--json` on the
commands that change state: submit, cancel, resume, fork."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_jobs.conftest import run_cli, wait_for
from tests.cli_jobs.test_cli_launch import _fake_checkpoint

pytestmark = pytest.mark.timeout(120)


def bash_complete(*words: str) -> list[str]:
    line = " ".join(("arcctl",) + words)
    res = run_cli(
        env={"_ARCCTL_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(words))}, check=True
    )
    return res.stdout.split()


def test_completes_templates_profiles_and_jobs(home):
    assert bash_complete("submit", "fake") == ["fake", "fakefail", "fakeslow", "fakestubborn"]
    assert "grpo" in bash_complete("render", "") and "sft" in bash_complete("render", "")
    assert bash_complete("submit", "fake", "--profile", "q") == ["quick"]  # the user profile
    assert bash_complete("cancel", "") == []  # no registry yet: nothing, and none created
    assert not (home / "registry.sqlite").exists() and not list(home.glob("*.sqlite*"))
    [jid] = run_cli("submit", "fake", "-q", check=True).stdout.split()
    assert bash_complete("fork", jid[:3]) == [jid]
    assert bash_complete("resume", "fake_") == ["fake_lr1e-6"]
    res = run_cli(env={"_ARCCTL_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "arcctl show fake_"}, check=True)
    assert "fake_lr1e-6" in res.stdout and jid in res.stdout  # the name, with its id as help


def test_broken_registry_completes_nothing_without_a_traceback(home):
    home.mkdir(parents=True, exist_ok=True)
    (home / "registry.sqlite").write_text("not a database\n")
    res = run_cli(env={"_ARCCTL_COMPLETE": "complete_bash", "COMP_WORDS": "arcctl cancel x", "COMP_CWORD": "2"})
    assert res.returncode == 0 and res.stdout.strip() == "" and "Traceback" not in res.stderr


def test_json_on_submit_cancel_resume_fork(home):
    out = json.loads(
        run_cli(
            "submit", "fakeslow", "-p", "learning_rate=1e-6,2e-6", "--profile", "quick", "--json", check=True
        ).stdout
    )
    assert [j["name"] for j in out] == ["fake_lr1e-6", "fake_lr2e-6"] and all(j["state"] for j in out)
    a, b = out
    assert Path(a["run_dir"]).parent == home / "runs"
    cancelled = json.loads(run_cli("cancel", a["id"], b["id"], "--json", check=True).stdout)
    assert [c["id"] for c in cancelled] == [a["id"], b["id"]]
    wait_for(lambda: all(j["state"] == "cancelled" for j in json.loads(run_cli("ls", "--json", check=True).stdout)))
    _fake_checkpoint(Path(a["run_dir"]), 2)
    _fake_checkpoint(Path(b["run_dir"]), 2)

    forked = json.loads(run_cli("fork", a["id"], "-p", "learning_rate=5e-6", "--json", check=True).stdout)
    assert forked["parent_run_dir"] == a["run_dir"] and forked["checkpoint"] == "checkpoint-2"
    assert forked["id"] != a["id"] and forked["parent"] == a["run_dir"]
    resumed = json.loads(run_cli("resume", b["id"], "--json", check=True).stdout)
    assert resumed["id"] == b["id"] and resumed["run_dir"] == b["run_dir"] and resumed["restarts"] == 1
    assert resumed["resumed_from"] == "checkpoint-2" and resumed["memory"] == resumed["memory_before"]
    run_cli("cancel", forked["id"], b["id"], check=True)


def test_json_cancel_reports_the_ones_done_before_a_bad_id(home):
    [jid] = run_cli("submit", "fakeslow", "--profile", "quick", "-q", check=True).stdout.split()
    res = run_cli("cancel", jid, "no-such-job", "--json")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "no-such-job" in res.stderr
    assert [j["id"] for j in json.loads(res.stdout)] == [jid]
