"""Round 4 of hostile CLI values and templates: `-p` values nested 10^5 deep, holding a NUL, of a
million characters or naming a file no file system takes; a GPU count no machine has; user
templates with a description of megabytes or terminal escapes. Each is one error line of
readable length naming the parameter (exit 2, no traceback), or is shown cut and escaped."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from arcctl.cli.main import app
from tests.cli_jobs.conftest import one_line_error, run_cli

pytestmark = pytest.mark.timeout(120)

runner = CliRunner()


def _one_line(res, *needles: str, longest: int = 2200) -> str:
    """The bad-input contract through typer's runner (a value with a NUL or of a million
    characters cannot be an argv string of a real process)."""
    assert res.exit_code == 2, (res.exit_code, res.stdout[:500], res.stderr[:500], res.exception)
    err = res.stderr.strip()
    assert "Traceback" not in res.stderr and "\n" not in err and err.startswith("error: "), err[:2000]
    assert len(err) <= longest, len(err)
    for n in needles:
        assert n in err, err[:2000]
    return err


@pytest.mark.parametrize(
    "param, named",
    [
        ("task_ids=" + "[" * 100_000, "error: -p task_ids: JSON nested too deeply"),
        ("rollback_changes=" + '{"a":' * 5000 + "1" + "}" * 5000, "error: -p rollback_changes: JSON nested too deeply"),
        ("learning_rate=[" + "[" * 100_000, "error: -p learning_rate: JSON nested too deeply"),
    ],
    ids=["task_ids", "rollback_changes", "learning_rate"],
)
def test_values_nested_past_the_json_parser_are_one_line(home, param, named):
    one_line_error(run_cli("render", "fake", "-p", param), named)


@pytest.mark.parametrize("param", ["dataset", "prompt_template", "common_module"])
def test_a_file_name_no_file_system_takes_is_one_line_naming_the_parameter(home, param):
    res = run_cli("render", "fake", "-p", f"{param}={'x' * 5000}")
    one_line_error(res, f"error: {param} 'xxxx", "File name too long")


@pytest.mark.parametrize("param", ["model_path", "dataset", "wandb_group", "adapter_path"])
def test_a_nul_in_a_value_is_refused(home, param):
    _one_line(runner.invoke(app, ["render", "fake", "-p", f"{param}=a\x00b"]), f"-p {param}: a NUL character")


def test_a_million_character_value_gives_an_error_of_readable_length(home):
    big = "x" * 1_000_000
    for param in (f"dataset={big}", f"wandb_group={big}", f"{big}=1", f"resources.memory={big}"):
        err = _one_line(runner.invoke(app, ["render", "fake", "-p", param]), "characters left out")
        assert err.startswith(("error: dataset 'xxx", "error: -p ")), err[:100]


def test_a_gpu_count_no_machine_has_is_refused(home):
    one_line_error(
        run_cli("render", "fake", "-p", "resources.gpus=99999999999999999999999"),
        "resources.gpus",
        "less than or equal to 1024",
    )


def test_duplicate_keys_newlines_and_nested_names_stay_one_line(home):
    one_line_error(run_cli("render", "fake", "-p", "learning_rate=1e-6", "-p", "learning_rate=2e-6"), "given twice")
    one_line_error(run_cli("render", "fake", "-p", "wandb_group=a\nb"), "wandb_group='a\\nb'")


def test_a_template_description_of_megabytes_or_escapes_is_shown_cut_and_escaped(home):
    cfg = home.parent / "config" / "templates"
    body = "[template]\nkind = 'grpo'\nname = 'x'\ndescription = \"{}\"\n[params]\nmodel_path = 'm'\n"
    (cfg / "hugedesc.toml").write_text(body.format("d" * 2_000_000))
    (cfg / "escdesc.toml").write_text(body.format("\\u001b]0;owned\\u0007 \\u202e hi"))
    res = run_cli("templates", check=True)
    assert len(res.stdout) < 20_000 and "\x1b" not in res.stdout and "\u202e" not in res.stdout, len(res.stdout)
    assert "more characters]" in res.stdout and "\\x1b]0;owned\\x07 \\u202e hi" in res.stdout
    res = run_cli("templates", "escdesc", check=True)
    assert "\x1b" not in res.stdout and "\\x1b]0;owned" in res.stdout
