"""Command-line values that were taken as given: `--timeout nan` (doctor: a traceback from the
selector; hosts: 'ValueError: Invalid value NaN' per host), negative or infinite timeouts, an
`ls --state` typo that listed nothing as if no job had that state, `ls -n` past SQLite's integers."""

from __future__ import annotations

import pytest

from jobs.errors import TemplateError
from jobs.launch import render
from jobs.submit import build_specs
from jobs.templates import load_template
from tests.cli_jobs.conftest import fake_template, one_line_error, run_cli

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("cmd", [["doctor", "local"], ["hosts", "127.0.0.1"]])
@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_timeouts_must_be_a_sensible_number_of_seconds(home, cmd, value):
    one_line_error(run_cli(*cmd, "--timeout", value), f"--timeout '{value}'")


def test_ls_state_typo_is_named(home):
    run_cli("submit", "fake", "-q", check=True)
    one_line_error(run_cli("ls", "--state", "runing"), "--state 'runing'", "running")
    listed = run_cli("ls", "--state", "completed", "--state", "completed", "--state", "running", check=True)
    assert "fake_lr1e-6" in listed.stdout


def test_ls_limit_past_sqlite_integers_is_a_usage_error(home):
    one_line_error(run_cli("ls", "-n", str(10**20)), f"-n/--limit '{10**20}'", "from 0 to 1000000000")


# ---- name patterns -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    ["{learning_rate:>99999999999}", "{learning_rate!r}", "{learning_rate.__class__}", "{learning_rate[0]}", "{}"],
)
def test_a_name_pattern_is_plain_parameter_names(home, pattern):
    """A sweep's --name is a pattern: a format width of 1e11 was a MemoryError traceback (1e9
    allocated a gigabyte per point before the name was cut to 200 characters)."""
    res = run_cli("render", "fake", "--name", pattern, "-p", "learning_rate=1e-6,2e-6")
    one_line_error(res, "is not a parameter name in braces")
    tpl = home.parent / "config" / "templates" / "widename.toml"
    tpl.write_text(fake_template("widename", pattern=pattern.replace('"', '\\"')))
    with pytest.raises(TemplateError, match=f"{tpl}: name pattern .* is not a parameter name in braces"):
        load_template("widename")


def test_a_sweep_name_pattern_with_an_unknown_parameter_is_refused(home):
    """It used to be filled with 'none' silently (a template's pattern is checked the same way)."""
    one_line_error(
        run_cli("render", "fake", "--name", "{lr}", "-p", "learning_rate=1e-6,2e-6"), "unknown parameter 'lr'"
    )
    ok = run_cli("render", "fake", "--json", "--name", "x{learning_rate}", "-p", "learning_rate=1e-6,2e-6", check=True)
    assert "x1e-6" in ok.stdout and "x2e-6" in ok.stdout


# ---- profile environments ------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["local", "slurm", "htcondor"])
def test_a_profile_cannot_set_what_the_backend_sets_for_the_job(home, backend):
    """`CUDA_VISIBLE_DEVICES = "0"` copied from an old launch script was exported by the sbatch
    script over Slurm's own choice (the job ran on another job's GPU); `SLURM_JOB_ID` made the
    script's `scontrol requeue $SLURM_JOB_ID` requeue some other job; ARCCTL_RESUME made every
    fresh local job a resume."""
    profile = home.parent / "config" / "profiles" / "mine.toml"
    head = f'[profile]\nbackend = "{backend}"\nruns_root = "/tmp"\n[env]\n'
    for name in ["CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "SLURM_RESTART_COUNT", "ARCCTL_RESUME", "_CONDOR_SCRATCH_DIR"]:
        profile.write_text(f'{head}{name} = "1"\n')
        with pytest.raises(TemplateError, match=f"{name} is set for the job by"):
            build_specs("fake", profile="mine")
    profile.write_text(f'{head}HF_HOME = "/scratch/hf"\n')
    ((_, artifact),) = render(build_specs("fake", profile="mine"))
    assert "/scratch/hf" in artifact.text
    if backend == "slurm":  # through the binary: one line naming the file
        profile.write_text(f'{head}CUDA_VISIBLE_DEVICES = "0"\n')
        one_line_error(run_cli("render", "fake", "--profile", "mine"), str(profile), "CUDA_VISIBLE_DEVICES")
