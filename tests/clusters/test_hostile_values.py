"""User values that are shell, sbatch or HTCondor syntax stay data: a profile `[env]` name with
shell syntax is refused for every backend with one line naming the profile and the key; a run dir
with blanks, quotes, `%` and `$` works on the real Slurm; the Slurm job name is sanitised;
HTCondor never expands `$(...)`/`$ENV(...)` that come from run dirs, names or parameters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.backends.base import BackendError, JobState
from jobs.backends.htcondor import HTCondorBackend
from jobs.backends.local import LocalBackend
from jobs.backends.slurm import SlurmBackend, job_name
from tests.clusters.conftest import make_spec, wait_for

ARCCTL = str(Path(sys.executable).parent / "arcctl")
HOSTILE_KEYS = ["A;touch /tmp/arcctl-pwned;B", "A B", "1A", "A=B", "$(id)", "A-B", ""]


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARCCTL_CONFIG_DIR": str(tmp_path / "config"), "ARCCTL_HOME": str(tmp_path / "home")}
    return subprocess.run([ARCCTL, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("backend", ["local", "slurm", "htcondor"])
@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_profile_env_name_with_shell_syntax_is_one_error_naming_profile_and_key(tmp_path, backend, key):
    profiles = tmp_path / "config" / "profiles"
    profiles.mkdir(parents=True)
    extra = '[options]\nuniverse = "vanilla"\n' if backend == "htcondor" else ""
    (profiles / "evil.toml").write_text(f'[profile]\nbackend = "{backend}"\n{extra}[env]\n"{key}" = "x"\nGOOD = "y"\n')
    for cmd in (["render", "eval", "--profile", "evil"], ["submit", "eval", "--profile", "evil"]):
        res = _cli(tmp_path, *cmd)
        assert res.returncode == 2, (cmd, res.stdout, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
        assert "evil" in lines[0] and repr(key) in lines[0], lines[0]
    assert not (tmp_path / "home" / "runs").exists() or not any((tmp_path / "home" / "runs").iterdir())
    assert not Path("/tmp/arcctl-pwned").exists()


@pytest.mark.parametrize(
    "backend",
    [LocalBackend({}), SlurmBackend({}), HTCondorBackend({"universe": "vanilla"})],
    ids=["local", "slurm", "htcondor"],
)
def test_every_backend_refuses_a_bad_env_name_in_a_spec(tmp_path, backend):
    """A spec does not only come from a profile file (a hand-edited spec.json, a fork): the
    backends check the names again before anything is rendered."""
    spec = make_spec(tmp_path / "run", env={"OK": "1"}).model_copy(update={"env": {"A;reboot;B": "x"}})
    with pytest.raises(BackendError, match=r"profile test-slurm: \[env\] 'A;reboot;B' is not an environment"):
        backend.render(spec)


def test_slurm_job_name_is_sanitised():
    assert job_name("lr1e-6_epochs100") == "lr1e-6_epochs100"
    assert job_name("x y;z,w\n#SBATCH --mem=1T") == "x_y_z_w__SBATCH_--mem_1T"
    text = SlurmBackend({}).render(make_spec("/tmp/r", name="a b;c")).text
    assert "#SBATCH --job-name=a_b_c\n" in text


@pytest.mark.slurm
@pytest.mark.timeout(180)
def test_run_dir_with_blanks_quotes_percent_and_dollar_runs_on_real_slurm(slurm, tmp_path):
    run_dir = tmp_path / """my run 'q' "dq" 100%j $(id) $HOME"""
    b = SlurmBackend({"slurm_conf": str(slurm.conf)})
    spec = make_spec(
        run_dir,
        name="hostile name; with blanks",
        env={"FAKE_STEPS": 2, "FAKE_STEP_S": 0.1, "MSG": "$(touch /tmp/arcctl-pwned2)"},
    )
    job = b.submit(spec)
    st = wait_for(lambda: (s := b.status([job])[job]).state.terminal and s, timeout=120, what="job ended")
    assert (st.state, st.exit_code) == (JobState.COMPLETED, 0), (
        st,
        (run_dir / "stderr.log").read_text() if (run_dir / "stderr.log").exists() else "",
    )
    assert (run_dir / "exit_code").read_text().strip() == "0"
    # --output/--error landed in the run dir itself, not in a `%j`-expanded or blank-split path
    assert (run_dir / "stdout.log").exists() and (run_dir / "stderr.log").exists()
    assert not Path("/tmp/arcctl-pwned2").exists()
    assert b.find(spec) == job  # squeue --name with the sanitised name finds it again


@pytest.mark.parametrize("value", ["$(HOME)", "$ENV(HOME)", "$(Cluster)", "$RANDOM_INTEGER(1,9)", "$USER", "a$b"])
def test_htcondor_does_not_expand_macros_from_user_values(tmp_path, value):
    import htcondor2

    run_dir = f"/scratch/runs/x{value}y"
    spec = make_spec(run_dir, name=f"n{value}", env={"TOKEN": value})
    spec = spec.model_copy(update={"entry": ["/usr/bin/python3", "train.py", f"--tag={value}"]})
    text = HTCondorBackend({"universe": "vanilla"}).render(spec).text
    sub = htcondor2.Submit(text)
    assert sub.expand("initialdir") == run_dir
    assert sub.expand("log") == f"{run_dir}/condor.log"
    assert sub.expand("output") == f"{run_dir}/stdout.log"
    assert sub.expand("batch_name") == f"n{value}"
    assert f"--tag={value}" in sub.expand("arguments")
    assert f"TOKEN={value}" in sub.expand("environment")
    assert f"ARCCTL_RUN_DIR={run_dir}" in sub.expand("environment")


@pytest.mark.parametrize("value", ["$$(Memory)", "$(DOLLAR)"])
def test_htcondor_refuses_what_cannot_be_kept_literal(tmp_path, value):
    spec = make_spec(f"/scratch/runs/{value}")
    with pytest.raises(BackendError, match=r"htcondor `\w+` of job job: .* contains `\$\$` or `\$\(DOLLAR\)`"):
        HTCondorBackend({"universe": "vanilla"}).render(spec)
