"""Round 6b: what an error line quotes of the command line. click's own errors (an extra argument,
an unknown command or option) drew a usage box that quoted the value as typed: an OSC title
sequence reached the terminal, and a 10,000-character value filled ~130 lines of box. Every
error is now one `error:` line, control characters written out, cut to a bounded length."""

from __future__ import annotations

import pytest

from tests.cli_jobs.conftest import one_line_error, run_cli

pytestmark = pytest.mark.timeout(120)

# An OSC title, a bell, a newline, a carriage return, a bidi override, 10,000 characters, a clear.
HOSTILE = "a\x1b]0;T\x07\n\r\u202e" + "x" * 10_000 + "\x1b[2J"
WRITTEN_OUT = r"a\x1b]0;T\x07"  # then \n or \x0a: click quotes an extra argument as a shell would
MAX_LINE = 2100  # errors.fail: clip_middle keeps 2,000 characters of the message


def _safe_line(res) -> str:
    err = one_line_error(res)
    assert not any(c in err for c in "\x1b\x07\r\u202e"), repr(err[:200])
    assert len(err) <= MAX_LINE, len(err)
    return err


@pytest.mark.parametrize(
    "args",
    [
        ["fork", "/nonexistent/run", HOSTILE],  # "Got unexpected extra argument"
        ["tail", "/nonexistent/run", HOSTILE],
        [HOSTILE],  # "No such command"
        ["ls", HOSTILE],
        ["ls", "--" + HOSTILE],  # "No such option"
    ],
    ids=["fork-extra", "tail-extra", "command", "ls-extra", "option"],
)
def test_clicks_usage_errors_are_one_written_out_line(home, args):
    err = _safe_line(run_cli(*args))
    assert WRITTEN_OUT in err and "--help" in err


@pytest.mark.parametrize(
    "args",
    [
        ["ls", "--state", HOSTILE],
        ["submit", HOSTILE],
        ["render", "grpo", "--profile", HOSTILE],
        ["compare", "--plot", HOSTILE, "RUN"],
        ["tail", HOSTILE],
        ["logs", HOSTILE],
        ["fetch", "RUN", HOSTILE],
        ["submission", "validate", HOSTILE, "-d", "arc1/eval"],
        ["render", "grpo", "--name", HOSTILE],
        ["render", "grpo", "--run-dir", HOSTILE],
        ["render", "grpo", "-p", HOSTILE],
        ["prompt", HOSTILE],
        ["doctor", HOSTILE],
        ["ls", "-n", HOSTILE],
        ["tail", "x", "--poll", HOSTILE],
    ],
    ids=lambda a: "-".join(x for x in a if x not in (HOSTILE, "RUN") and not x.startswith("/"))[:40],
)
def test_every_value_an_error_quotes_is_written_out_and_cut(home, tmp_path, args):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 1, "reward": 0.5}\n')
    err = _safe_line(run_cli(*[str(run) if a == "RUN" else a for a in args]))
    assert WRITTEN_OUT in err


def test_missing_argument_and_exit_codes_are_kept(home, tmp_path):
    one_line_error(run_cli("fetch"), "Missing argument", "arcctl fetch --help")
    assert "Usage" in run_cli("ls", "--help", check=True).stdout
    assert run_cli("hosts", "127.0.0.1", "--timeout", "0.5").returncode == 1  # a command's own exit code


def test_a_group_without_a_command_shows_its_help_and_no_empty_error_line(home):
    # not standalone, click's "no args: show help" came back as a usage error with no message
    res = run_cli("submission")
    assert "Usage" in res.stdout and "validate" in res.stdout
    assert res.stderr.strip() == "", res.stderr


def test_tab_completion_of_a_bad_number_prints_no_error_line(home):
    # the shell completes `arcctl ls -n abc <TAB>`: click parses what is typed and drops its errors,
    # but the number parser had already written `error: -n/--limit 'abc': ...` into the prompt
    for words in ("arcctl ls -n abc ", "arcctl tail --poll nan "):
        env = {"_ARCCTL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()))}
        res = run_cli(env=env)
        assert "error" not in res.stderr and "error" not in res.stdout, (words, res.stdout, res.stderr)
