"""Names and run dirs with C1 controls or invisible Unicode format characters (bidi overrides and
isolates, zero-width): they pass every C0/DEL check yet make a name show as another one in
`arcctl ls`, logs and job scripts. Refused in one line that names the option and the character."""

from __future__ import annotations

import pytest

from jobs.errors import SpecError
from jobs.naming import check_name, check_run_dir
from tests.cli_jobs.conftest import one_line_error, run_cli, tree

pytestmark = pytest.mark.timeout(120)

HOSTILE = {
    "\u202e": "U+202E",  # RIGHT-TO-LEFT OVERRIDE: 'run\u202egpj.exe' shows as 'runexe.jpg'
    "\u2066": "U+2066",  # LEFT-TO-RIGHT ISOLATE
    "\u200b": "U+200B",  # ZERO WIDTH SPACE: two names that look the same
    "\ufeff": "U+FEFF",  # a BOM inside a name
    "\x85": "U+0085",  # C1 NEXT LINE: a line break to some terminals and to str.splitlines
    "\x9b": "U+009B",  # C1 CSI: an escape sequence on 8-bit terminals
}


@pytest.mark.parametrize("char", list(HOSTILE))
def test_check_name_and_run_dir_name_the_character(char):
    for check, what in ((check_name, "--name"), (check_run_dir, "--run-dir")):
        with pytest.raises(SpecError) as e:
            check(f"lr1e-6{char}x", what)
        msg = str(e.value)
        assert what in msg and HOSTILE[char] in msg and "\n" not in msg and char not in msg


def test_plain_unicode_names_still_pass():
    check_name("lr1e-6_résumé_学习")
    check_run_dir("/tmp/runs/Ölçüm-日本")


@pytest.mark.parametrize("opt", ["--name", "--run-dir"])
def test_cli_refuses_a_bidi_override_in_one_line(home, tmp_path, opt):
    value = "evil\u202egpj.exe" if opt == "--name" else str(tmp_path / "runs" / "evil\u202egpj.exe")
    before = tree(tmp_path)
    one_line_error(run_cli("submit", "fake", opt, value), opt, "U+202E")
    one_line_error(run_cli("render", "fake", opt, value), opt, "U+202E")
    assert tree(tmp_path) == before
