"""What the CLI prints from a run dir that another host (and a model) wrote: escape sequences (OSC
title and clipboard, CSI screen clears, 8-bit CSI), bidi overrides, other control characters and
multi-megabyte values. Every printer of run-dir content (tail --events/--completions/--metrics,
logs, health, compare of eval and HER runs, show) writes them out visibly and cuts a huge value
short, so nothing reaches the terminal raw and no line floods it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli_jobs.conftest import run_cli

pytestmark = pytest.mark.timeout(120)

TRACES = Path(__file__).resolve().parents[1] / "health" / "traces"
# window title, clipboard write (OSC 52), clear screen (CSI), 8-bit CSI, a bidi override (reads
# "txt.exe" as "exe.txt"), a bell and a backspace
HOSTILE = "\x1b]0;owned\x07\x1b]52;c;cHduZWQ=\x07\x1b[2J\x9b2J\u202etxt.exe\x07\x08"
RAW = ("\x1b", "\x07", "\x08", "\x9b", "\u202e")
BIG = 3_000_000  # characters of one value: far more than any terminal line
MAX_LINE = 20_000  # no printed line may be longer


def assert_safe(text: str) -> None:
    for c in RAW:
        assert c not in text, (repr(c), text[:2000])
    longest = max((len(line) for line in text.splitlines()), default=0)
    assert longest <= MAX_LINE, longest


def _jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture
def hostile_run(tmp_path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    many = {f"f{i}": i for i in range(500)}
    _jsonl(
        run / "events.jsonl",
        [
            {"time": 1, "event": "error", "message": f"boom{HOSTILE}", "kind": "X" * BIG},
            {"time": 2, "event": f"warn{HOSTILE}", f"key{HOSTILE}": {"nested": HOSTILE}, **many},
            {"time": HOSTILE * 3, "event": "started"},
        ],
    )
    _jsonl(
        run / "completions.jsonl",
        [{"step": 1, "task_id": f"t{HOSTILE}" + "y" * BIG, "reward": 0.5, "completion": f"x{HOSTILE}"}],
    )
    _jsonl(run / "metrics.jsonl", [{"step": 1, f"m{HOSTILE}": 0.5, "reward": 0.25}])
    return run


def test_tail_writes_escapes_out_and_cuts_huge_values(home, hostile_run):
    res = run_cli("tail", str(hostile_run), "--events", check=True)
    assert_safe(res.stdout)
    lines = res.stdout.splitlines()
    assert len(lines) == 3, lines
    assert "message=boom\\x1b]0;owned\\x07" in lines[0] and "\\u202etxt.exe" in lines[0]
    assert f"… [{BIG - 1000} more characters]" in lines[0]  # the 3 MB value, cut and counted
    assert "warn\\x1b]0;owned" in lines[1] and "key\\x1b]0;owned" in lines[1]
    assert "… 461 more fields" in lines[1]  # 40 of its 501 fields shown
    assert "\\x1b]0;owned" in lines[2]  # a `time` that is text
    for kind in ("--completions", "--metrics"):
        res = run_cli("tail", str(hostile_run), kind, "--all", check=True)
        assert_safe(res.stdout)
        assert "t\\x1b]0;owned" in res.stdout or "m\\x1b]0;owned" in res.stdout, res.stdout[:500]


def test_logs_cut_a_line_of_megabytes(home, hostile_run):
    (hostile_run / "stdout.log").write_text("first\n" + "z" * BIG + f"{HOSTILE}\nlast\n")
    for args in ((), ("-n", "0")):
        res = run_cli("logs", str(hostile_run), *args, check=True)
        assert_safe(res.stdout)
        lines = res.stdout.splitlines()
        assert lines[0] == "first" and lines[2] == "last", [line[:80] for line in lines]
        assert lines[1].startswith("zzz") and lines[1].endswith(" more bytes]"), lines[1][-80:]


def test_health_writes_out_task_ids_and_ids_of_the_examples(home, tmp_path):
    """The repetition alert of a real trace quotes completions by id and task id (model data)."""
    run = tmp_path / "run"
    shutil.copytree(TRACES / "real_repeat_reward", run)
    rows = [json.loads(line) for line in (run / "completions.jsonl").read_text().splitlines()]
    for r in rows:
        r["task_id"] = f"task{HOSTILE}" + "q" * 5000
        r["id"] = f"{r['id']}{HOSTILE}"
    _jsonl(run / "completions.jsonl", rows)
    res = run_cli("health", str(run))
    assert res.returncode == 1, res.stderr
    assert_safe(res.stdout + res.stderr)
    assert "task task\\x1b]0;owned\\x07" in res.stdout and "\\u202etxt.exe" in res.stdout, res.stdout[:3000]


def test_compare_tables_show_names_from_the_files_literally(home, tmp_path):
    """The eval table went through rich markup (`[link=…]` became a live hyperlink) and printed
    control characters of a data set name raw; the HER table printed task ids raw."""
    ev = tmp_path / "evalrun"
    (ev / "eval").mkdir(parents=True)
    metrics = {"dataset": f"[link=https://x.example]d[/link]{HOSTILE}", "aggregate": {"n_tasks": 1}, "task_tests": {}}
    (ev / "eval" / "metrics.json").write_text(json.dumps(metrics))
    for args in ((), ("--markdown",)):
        res = run_cli("compare", str(ev), *args, check=True)
        assert_safe(res.stdout)
        assert "[link=https://x.example]d[/link]\\x1b]0;owned" in res.stdout.replace("\n", ""), res.stdout
    her = tmp_path / "her"
    her.mkdir()
    (her / "spec.json").write_text(json.dumps({"kind": "her", "name": "her"}))
    epoch = {"event": "her_epoch", "time": 1, "step": 1, "target": 0, "epoch": 1, "solved": True}
    _jsonl(her / "events.jsonl", [{**epoch, "task_id": f"t{HOSTILE}", "best_pixel_score": HOSTILE}])
    res = run_cli("compare", str(her), check=True)
    assert_safe(res.stdout + res.stderr)
    assert "| t\\x1b]0;owned" in res.stdout and "\\u202etxt.exe" in res.stderr, (res.stdout, res.stderr)


def test_show_writes_out_what_a_scheduler_said(home):
    from jobs.registry import Registry

    [jid] = run_cli("submit", "fake", "-q", check=True).stdout.split()
    with Registry() as reg:
        reg.set_state(jid, "failed", 1, reason=f"held{HOSTILE}", detail="d" * BIG)
    res = run_cli("show", jid, check=True)
    assert_safe(res.stdout)
    assert "held\\x1b]0;owned\\x07" in res.stdout and "more characters]" in res.stdout


def test_terminal_text_helpers():
    from arcctl.cli.terminal_text import block, clip, shown

    assert clip("abcdef", 4) == "abcd… [2 more characters]" and clip("abc", 4) == "abc"
    assert shown(f"a{HOSTILE}") == "a" + "".join(
        c if c.isprintable() else repr(c)[1:-1] for c in HOSTILE
    )  # the same as one_line
    assert block("a\tb\n\x1bc", keep="\t") == "a\tb\n\\x1bc"
