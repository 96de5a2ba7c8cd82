"""Values that are job-script syntax (round 4). A job's name, template or profile heads its sbatch
script / HTCondor description as a comment line: a newline there started a line of its own (a
shell command in the sbatch script, a submit command for HTCondor), now one error naming the
field. A value that ends with a backslash continued HTCondor's line into the next command, now one
error naming the command; a run dir with a backslash, which slurmd drops from log paths, one error
for Slurm. Run dirs and environment values with `#`, quotes, `$()`, backticks and `#SBATCH` lines
stay data on the real Slurm (values with backslashes too)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.backends.base import BackendError, JobState
from jobs.backends.htcondor import HTCondorBackend
from jobs.backends.slurm import SlurmBackend
from tests.clusters.conftest import make_spec, wait_for

ARCCTL = str(Path(sys.executable).parent / "arcctl")
pytestmark = pytest.mark.timeout(180)
BACKENDS = [SlurmBackend({}), HTCondorBackend({"universe": "vanilla"})]


@pytest.mark.parametrize("backend", BACKENDS, ids=["slurm", "htcondor"])
@pytest.mark.parametrize("field", ["name", "template", "profile"])
@pytest.mark.parametrize("bad", ["x\ntouch /tmp/arcctl-r4-pwned #", "x\r\n+Evil = 1", "x\u2028y", "x\x1b[2Jy"])
def test_a_control_character_in_name_template_or_profile_is_refused(tmp_path, backend, field, bad):
    spec = make_spec(tmp_path / "run").model_copy(update={field: bad})
    with pytest.raises(BackendError, match=rf"^job {field} .* contains the control character .*; not rendering it$"):
        backend.render(spec)


def test_a_profile_file_whose_name_holds_a_newline_renders_nothing(tmp_path):
    """`--profile` finds the file by its name; its stem is the profile's name in the script."""
    config = tmp_path / "config"
    (config / "profiles").mkdir(parents=True)
    name = "evil\ntouch arcctl-r4-pwned #"
    (config / "profiles" / f"{name}.toml").write_text('[profile]\nbackend = "slurm"\nruns_root = "/tmp/r4"\n')
    env = {**os.environ, "ARCCTL_CONFIG_DIR": str(config), "ARCCTL_HOME": str(tmp_path / "home")}
    res = subprocess.run([ARCCTL, "render", "eval", "--profile", name], capture_output=True, text=True, env=env)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stdout + res.stderr
    [line] = res.stderr.strip().splitlines()
    assert "job profile 'evil\\ntouch arcctl-r4-pwned #' contains the control character '\\n'" in line
    assert "touch arcctl-r4-pwned" not in res.stdout


@pytest.mark.parametrize(
    "update, key",
    [
        ({"run_dir": "/scratch/runs/x\\"}, "initialdir"),
        ({"name": "n\\"}, "batch_name"),
        ({"name": "n\\  "}, "batch_name"),
    ],
)
def test_htcondor_refuses_a_value_that_ends_with_a_backslash(tmp_path, update, key):
    """condor_submit joins the next line onto it: `batch_name = n\\` swallowed +ArcctlRunDir (crash
    recovery then could not find the job), `initialdir = /x\\` swallowed `log`."""
    spec = make_spec("/scratch/runs/x").model_copy(update=update)
    with pytest.raises(BackendError, match=rf"htcondor submit command '{key}' of job .* ends with a backslash"):
        HTCondorBackend({"universe": "vanilla"}).render(spec)


def test_slurm_refuses_a_run_dir_with_a_backslash():
    """slurmd drops the backslashes of an --output path whatever the quoting: the job failed at
    launch (JobLaunchFailure, exit 181) with its logs nowhere."""
    with pytest.raises(BackendError, match=r"run dir '/scratch/a\\\\b' of job job: Slurm cannot put logs"):
        SlurmBackend({}).render(make_spec("/scratch/a\\b"))


@pytest.mark.slurm
def test_hash_quotes_and_sbatch_lines_in_values_stay_data_on_real_slurm(slurm, tmp_path):
    run_dir = tmp_path / "run #1 'q' \"dq\" #SBATCH --mem=999T"
    value = "a\n#SBATCH --mem=999T\n`touch /tmp/arcctl-r4-pwned1`$(touch /tmp/arcctl-r4-pwned2) 'q' \"dq\" \\ #"
    code = "import os, sys; open(os.environ['ARCCTL_RUN_DIR'] + '/value', 'w').write(os.environ['V'])"
    spec = make_spec(run_dir, name="x #SBATCH --mem=999T", env={"V": value})
    spec = spec.model_copy(update={"entry": [sys.executable, "-c", code]})
    b = SlurmBackend({"slurm_conf": str(slurm.conf)})
    job = b.submit(spec)
    st = wait_for(lambda: (s := b.status([job])[job]).state.terminal and s, timeout=120, what="job ended")
    assert (st.state, st.exit_code) == (JobState.COMPLETED, 0), st
    assert (run_dir / "value").read_text() == value
    # the logs went into the run dir itself: `#` did not end the #SBATCH argument there
    assert (run_dir / "stdout.log").exists() and (run_dir / "stderr.log").exists()
    assert (run_dir / "exit_code").read_text().strip() == "0"
    assert not Path("/tmp/arcctl-r4-pwned1").exists() and not Path("/tmp/arcctl-r4-pwned2").exists()
