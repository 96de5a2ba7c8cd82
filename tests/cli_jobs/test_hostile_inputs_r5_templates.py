"""Round 5: user templates and profiles. A key of a template is any TOML string: one holding a
newline and an OSC escape came out raw in `arcctl templates`' warning (a second line, the
terminal's title set); a file name is as free. A template, profile or prompt template of tens of
megabytes was read whole and parsed (80 MB: 51 s on the shared 2-core VM); it is refused unread."""

from __future__ import annotations

import pytest

from tests.cli_jobs.conftest import one_line_error, run_cli

pytestmark = pytest.mark.timeout(120)

BODY = "[template]\nkind = 'grpo'\nname = 'x'\n[params]\nmodel_path = 'm'\n"


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning: ")]


def test_a_hostile_key_is_one_escaped_warning_line(home):
    cfg = home.parent / "config"
    (cfg / "templates" / "evil.toml").write_text('"a\\nb\\u001b]0;T\\u0007" = 1\n' + BODY)
    (cfg / "templates" / "evilparam.toml").write_text(BODY + '"p\\nq" = 1\n')
    (cfg / "profiles" / "evil.toml").write_text('[profile]\nbackend = "local"\n"k\\u202e\\rx" = 1\n')
    res = run_cli("templates", check=True)
    assert "\x1b" not in res.stderr + res.stdout and "\u202e" not in res.stderr and "\r" not in res.stderr
    [tpl] = [w for w in _warnings(res.stderr) if "templates/evil.toml" in w]
    assert tpl.endswith("unknown key 'a\\nb\\x1b]0;T\\x07' in the file (skipped)")
    [param] = [w for w in _warnings(res.stderr) if "evilparam.toml" in w]
    assert param.endswith("[params] unknown parameter 'p\\nq' for kind grpo (skipped)")
    [prof] = [w for w in _warnings(res.stderr) if "profiles/evil.toml" in w]
    assert "unknown key 'k\\u202e\\rx'" in prof
    assert len(res.stderr.splitlines()) == len(_warnings(res.stderr))  # every line of stderr is one warning
    assert "fake" in res.stdout  # the others are listed


def test_a_template_file_name_with_control_characters_is_listed_escaped(home):
    cfg = home.parent / "config" / "templates"
    (cfg / "ti\x1b]0;T\x07tle.toml").write_text(BODY)
    res = run_cli("templates", check=True)
    assert "\x1b" not in res.stdout and "ti\\x1b]0;T\\x07tle" in res.stdout


@pytest.mark.parametrize("folder", ["templates", "profiles"])
def test_a_template_or_profile_of_megabytes_is_refused_unread(home, folder):
    cfg = home.parent / "config" / folder
    head = BODY if folder == "templates" else '[profile]\nbackend = "local"\n'
    (cfg / "huge.toml").write_text(head + "# filler\n" * 600_000)  # 5.4 MB of comments: valid TOML
    res = run_cli("templates", check=True)
    [w] = [w for w in _warnings(res.stderr) if "huge.toml" in w]
    assert w.endswith("larger than 4 MiB (a template or profile is a few KB) (skipped)")


def test_a_prompt_template_of_megabytes_is_one_line(home, tmp_path):
    big = tmp_path / "p.toml"
    big.write_text('user = "{{ task_id }}"\n' + "# filler\n" * 600_000)
    one_line_error(run_cli("render", "grpo", "-p", f"prompt_template={big}"), f"prompt_template {big}", "4 MiB")
