"""Round 6: what reaches a real terminal. The commands run on a pseudo-terminal, as a person runs
them (click strips CSI sequences from output that is not a terminal, so a pipe hides some of what
a terminal gets). A job name may hold C1 controls and bidi overrides (`--name` refuses only C0), a
fork's name comes from a parent spec another host wrote: `ls`, `submit`, `render`, `cancel` and
`resume` printed it raw (`\\x9b2J` clears the screen on terminals that take 8-bit CSI, U+202E turns
the rest of the line around). A log line's colours were kept without a reset (`ESC[30;40m` left the
shell's prompt black on black) and with SGR 8 (concealed text)."""

from __future__ import annotations

import json
import os
import pty
import select
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.cli_jobs.conftest import ARCCTL, run_cli, wait_for

pytestmark = pytest.mark.timeout(180)

# 8-bit CSI and OSC, NEL, a bidi override and isolate, CR (overwrites the line), ESC ] title, BEL
NAME = "ev\u202eil\x9b2J\u2066x\x85y\x9d0;t\x9c"
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x9b2J\r\u202eZ\x85\x90q\x9d8;;x\x9c\u2066"
RAW = ("\x9b", "\x85", "\x90", "\x9d", "\x9c", "\u202e", "\u2066", "\x07", "\r")


def on_tty(*args: str, timeout: float = 60) -> tuple[int, str]:
    """`arcctl ARGS` with stdout and stderr on a pseudo-terminal: its exit code and what the terminal
    received (the line discipline's \\r\\n turned back into \\n)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([ARCCTL, *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            proc.kill()
            raise AssertionError(f"arcctl {args} wrote nothing for {timeout} s")
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout)
    return code, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def assert_safe(text: str, esc_ok: bool = False) -> None:
    for c in RAW + (() if esc_ok else ("\x1b",)):
        assert c not in text, (repr(c), text[:3000])


def _registry_name(home: Path, jid: str, name: str) -> None:
    """The job's name as a registry row holds it after a fork of a spec another host wrote
    (`--name` itself is made safe; a spec's own name is not)."""
    with sqlite3.connect(home / "registry.sqlite") as db:
        db.execute("UPDATE jobs SET name = ? WHERE id = ?", (name, jid))


def test_a_name_with_c1_controls_and_bidi_is_written_out_by_the_job_commands(home):
    code, out = on_tty("submit", "fakeslow", "--profile", "quick", "-q")
    assert code == 0, out
    jid = out.split()[0]
    _registry_name(home, jid, NAME)
    code, out = on_tty("ls", "--no-refresh")
    assert code == 0 and "ev\\u202eil\\x9b2J" in out, out
    assert_safe(out)
    wait_for(lambda: json.loads(run_cli("ls", "--json").stdout)[0]["state"] == "running")
    code, out = on_tty("cancel", jid)
    assert code == 0 and jid in out, out
    assert_safe(out)
    wait_for(lambda: json.loads(run_cli("ls", "--json").stdout)[0]["state"] == "cancelled", timeout=60)
    code, out = on_tty("resume", jid)
    assert code == 0 and "resumed from" in out, out
    assert_safe(out)
    run_cli("cancel", jid)


def test_compare_plot_writes_out_a_metric_name(home, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    key = "m" + HOSTILE
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, key: s / 10}) + "\n" for s in range(1, 6)))
    code, out = on_tty("compare", str(run), "--plot", key, "--width", "80", "--height", "8")
    assert code == 0, out
    assert "m\\x1b]0;pwned" in out
    assert "\x1b]" not in out and "\x1b[2J" not in out  # the chart's own colours are SGR only
    assert_safe(out, esc_ok=True)


def test_log_colours_end_with_a_reset_and_concealed_text_is_shown(home, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "stdout.log").write_text(f"\x1b[30;40mblack on black\nafter\x1b[8mhidden\n{HOSTILE}end\n")
    code, out = on_tty("logs", str(run))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "\x1b[30;40mblack on black\x1b[0m", lines
    assert lines[1] == "afterhidden\x1b[0m", lines  # SGR 8 dropped: the text is readable
    assert lines[2] == "\\u202eZ\\x85\\x90q\\x9d8;;x\\x9c\\u2066end", lines  # \r: the part a terminal shows
    assert_safe(out, esc_ok=True)


def test_one_line_is_fast_on_printable_text():
    """`ls` writes out every name: printable ones take the C-speed path."""
    import time

    from arcctl.cli.terminal_text import one_line

    names = [f"grpo_lr{i}e-6_beta0.0{i % 9}_répété" for i in range(10_000)]
    t0 = time.perf_counter()
    assert [one_line(n) for n in names] == names
    assert time.perf_counter() - t0 < 0.5
    assert one_line("a\u202eb\x9b") == "a\\u202eb\\x9b"


def test_the_progress_line_writes_out_a_checkpoint_name(capsys):
    """`fetch` names the checkpoint of another host in its progress line."""
    from arcctl.cli.progress_out import progress

    with progress("fetch checkpoint-5" + HOSTILE, unit="B", tty=False) as advance:
        advance(10)
    err = capsys.readouterr().err
    assert "fetch checkpoint-5\\x1b]0;pwned" in err
    assert_safe(err)


@pytest.mark.parametrize("command", [["tail"], ["logs"]])
def test_the_no_file_yet_line_writes_out_the_run_dir(home, tmp_path, command):
    run = tmp_path / "run\u202eZ\x9b2J"
    run.mkdir()
    res = run_cli(*command, str(run))
    assert res.returncode == 0 and "run\\u202eZ\\x9b2J" in res.stderr, res.stderr
    assert_safe(res.stdout + res.stderr)
