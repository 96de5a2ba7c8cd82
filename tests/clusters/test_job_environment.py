"""The environment per profile on real components: the trainer is importable only from a venv that
is not on the PATH of the ssh session or the Slurm job; `python = …` or `setup = [...]` in the
profile makes the real `python -m trainer run` job (tiny GRPO, 1 step on CPU) run on the real Slurm
reached over the real sshd, and without them the same job fails as a new user's would."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.clusters.conftest import cli, ended, ls, wait_for
from tests.clusters.venvs import REPO, make_venv
from tests.tiny_params import tiny_grpo_options

pytestmark = [pytest.mark.slurm, pytest.mark.sshd]
TINY = tiny_grpo_options(max_steps=1, max_completion_length=16, save_steps=1)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    return make_venv(tmp_path_factory.mktemp("arc-venv") / "venv")


def _profile(cfg: Path, name: str, tmp_path: Path, slurm, extra: str) -> None:
    (cfg / "profiles" / f"{name}.toml").write_text(f"""
[profile]
backend = "slurm"
host = "testhost"
runs_root = "{tmp_path / "runs"}"
[resources]
gpus = 0
cpus = 1
memory = "3G"
[options]
slurm_conf = "{slurm.conf}"
{extra}
""")


@pytest.fixture
def env(slurm, ssh_config, venv, tmp_path):
    cfg = tmp_path / "config"
    (cfg / "profiles").mkdir(parents=True)
    _profile(cfg, "bare", tmp_path, slurm, "")
    _profile(cfg, "withpython", tmp_path, slurm, f'python = "{venv}/bin/python"')
    _profile(cfg, "withsetup", tmp_path, slurm, f'setup = ["source {venv}/bin/activate", "echo setup-ran >&2"]')
    return {
        **os.environ,
        "ARCCTL_CONFIG_DIR": str(cfg),
        "ARCCTL_HOME": str(tmp_path / "home"),
        "ARCCTL_SSH_CONFIG": str(ssh_config),
    }


@pytest.mark.timeout(120)
def test_render_shows_the_profile_environment(env, venv):
    text = cli(env, "render", "grpo", "--profile", "withsetup", "-p", "model_path=/m").stdout
    assert f"set -e\nsource {venv}/bin/activate\necho setup-ran >&2\nset +e\n" in text
    assert "\npython -m trainer run " in text
    text = cli(env, "render", "grpo", "--profile", "withpython", "-p", "model_path=/m").stdout
    assert f"\n{venv}/bin/python -m trainer run " in text and "activate" not in text


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_trainer_in_a_venv_off_path_runs_on_slurm_over_ssh(env, tiny_model_dir):
    model = f"model_path={tiny_model_dir}"
    bare = cli(env, "submit", "grpo", "--profile", "bare", "-p", model, *TINY, "--name", "bare", "-q").stdout.split()[0]
    ids = {
        p: cli(env, "submit", "grpo", "--profile", p, "-p", model, *TINY, "--name", p, "-q").stdout.split()[0]
        for p in ("withpython", "withsetup")
    }

    failed = wait_for(lambda: ended(env, bare), timeout=120, interval=1.0, what="bare job ended")
    err = Path(failed["run_dir"], "stderr.log").read_text()
    assert failed["state"] == "failed", failed
    assert "No module named" in err or "python: command not found" in err, err[-1000:]

    for profile, jid in ids.items():
        job = wait_for(lambda: ended(env, jid), timeout=420, interval=2.0, what=f"{profile} job ended")
        rd = Path(job["run_dir"])
        assert job["state"] == "completed" and job["exit_code"] == 0, (profile, (rd / "stderr.log").read_text()[-3000:])
        assert [json.loads(line)["step"] for line in (rd / "metrics.jsonl").read_text().splitlines()] == [1]
        assert (rd / "checkpoint-1").is_dir()
    assert "setup-ran" in Path(ls(env)[ids["withsetup"]]["run_dir"], "stderr.log").read_text()


def _probe_spec(run_dir: Path, backend: str):
    from jobs.spec import JobSpec

    return JobSpec(
        kind="eval",
        name="probe",
        template="eval",
        params={"model_path": "m", "dataset": "d"},
        backend=backend,
        profile="venv",
        run_dir=str(run_dir),
        entry=["python", "-m", "arc_probe"],
    )


@pytest.mark.timeout(120)
def test_local_job_runs_after_the_setup_lines(venv, tmp_path, monkeypatch):
    from jobs.backends.base import JobState
    from jobs.backends.local import LocalBackend

    monkeypatch.setenv("ARCCTL_HOME", str(tmp_path / "home"))

    def run_probe(setup: list[str], run_dir: Path):
        b = LocalBackend({"setup": setup}, state_dir=tmp_path / "state")
        run_dir.mkdir()
        spec = _probe_spec(run_dir, "local")
        spec.write()
        job = b.submit(spec)
        return wait_for(
            lambda: (s := b.status([job])[job]).state.terminal and s, timeout=60, what=f"{run_dir.name} ended"
        )

    run_dir = tmp_path / "run"
    st = run_probe([f"source {venv}/bin/activate"], run_dir)
    assert st.state is JobState.COMPLETED, (run_dir / "stderr.log").read_text()
    probe = json.loads((run_dir / "probe.json").read_text())
    assert probe["python"] == f"{venv}/bin/python" and probe["trainer"].startswith(str(REPO))

    run2 = tmp_path / "run2"
    st = run_probe(["source /nonexistent/bin/activate", "echo not-reached"], run2)
    err = (run2 / "stderr.log").read_text()
    assert st.state is JobState.FAILED and "/nonexistent/bin/activate" in err and "not-reached" not in err


@pytest.mark.timeout(120)
def test_htcondor_wrapper_script_runs_the_setup_then_the_job(venv, tmp_path):
    """Submitted through the condor_submit stand-in; the job is then started the way a startd
    starts a vanilla job: the executable and arguments htcondor2.Submit reads from job.sub."""
    import htcondor2

    from jobs.backends.htcondor import HTCondorBackend
    from jobs.scheduler_shell import LocalShell
    from tests.clusters import condor_standin as standin

    standin.install(tmp_path / "bin", tmp_path / "state")
    b = HTCondorBackend(
        {"bin_dir": str(tmp_path / "bin"), "universe": "vanilla", "setup": [f"source {venv}/bin/activate"]},
        shell=LocalShell(),
    )
    run_dir = tmp_path / "run"
    b.submit(_probe_spec(run_dir, "htcondor"))
    script = run_dir / "job.sh"
    assert script.stat().st_mode & 0o111 and f"source {venv}/bin/activate" in script.read_text()
    sub = htcondor2.Submit((run_dir / "job.sub").read_text())
    assert sub.expand("executable") == str(script) and sub.expand("transfer_executable") == "true"
    argv = [sub.expand("executable"), *sub.expand("arguments").strip('"').split()]
    res = subprocess.run(
        argv, cwd=sub.expand("initialdir"), capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"}
    )
    assert res.returncode == 0, res.stderr
    assert json.loads((run_dir / "probe.json").read_text())["python"] == f"{venv}/bin/python"


@pytest.mark.timeout(120)
def test_htcondor_docker_universe_runs_the_setup_lines_in_the_image_too(venv, tmp_path):
    """Docker universe with setup lines: the description names the image and runs job.sh (sent
    into the container as the executable), which sources the setup and execs the job. No docker
    daemon can run here, so the job is started the way the container's entry would start it:
    the transferred executable with the description's arguments, in a bare environment."""
    import htcondor2

    from jobs.backends.htcondor import HTCondorBackend
    from jobs.scheduler_shell import LocalShell
    from tests.clusters import condor_standin as standin

    standin.install(tmp_path / "bin", tmp_path / "state")
    b = HTCondorBackend(
        {
            "bin_dir": str(tmp_path / "bin"),
            "universe": "docker",
            "docker_image": "arcctl-trainer:0.1.0",
            "setup": [f"source {venv}/bin/activate", "echo setup-in-image >&2"],
        },
        shell=LocalShell(),
    )
    run_dir = tmp_path / "run"
    b.submit(_probe_spec(run_dir, "htcondor"))
    sub = htcondor2.Submit((run_dir / "job.sub").read_text())
    assert sub.expand("universe") == "docker" and sub.expand("docker_image") == "arcctl-trainer:0.1.0"
    script = run_dir / "job.sh"
    assert sub.expand("executable") == str(script) and sub.expand("transfer_executable") == "true"
    text = script.read_text()
    assert text.startswith("#!/bin/bash\n") and f"set -e\nsource {venv}/bin/activate\n" in text
    assert text.rstrip().endswith('exec "$@"')
    args = sub.expand("arguments").strip('"').split()
    assert args[:3] == ["python", "-m", "arc_probe"], args  # `python` as the setup lines put it on PATH
    res = subprocess.run(
        [str(script), *args],
        cwd=sub.expand("initialdir"),
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert res.returncode == 0 and "setup-in-image" in res.stderr, res.stderr
    assert json.loads((run_dir / "probe.json").read_text())["python"] == f"{venv}/bin/python"


@pytest.mark.timeout(120)
def test_render_shows_the_htcondor_job_script_and_the_local_setup(venv, tmp_path):
    cfg = tmp_path / "config"
    (cfg / "profiles").mkdir(parents=True)
    setup = f'setup = ["source {venv}/bin/activate", "module load cuda"]'
    (cfg / "profiles" / "condor-setup.toml").write_text(
        f'[profile]\nbackend = "htcondor"\nruns_root = "{tmp_path / "runs"}"\n[resources]\ngpus = 0\n'
        f'[options]\nuniverse = "docker"\ndocker_image = "arcctl-trainer:0.1.0"\n{setup}\n'
    )
    (cfg / "profiles" / "local-setup.toml").write_text(
        f'[profile]\nbackend = "local"\nruns_root = "{tmp_path / "runs"}"\n[options]\n{setup}\n'
    )
    (cfg / "profiles" / "local-python.toml").write_text(
        f'[profile]\nbackend = "local"\nruns_root = "{tmp_path / "runs"}"\n[options]\npython = "{venv}/bin/python"\n'
    )
    env = {"ARCCTL_CONFIG_DIR": str(cfg), "ARCCTL_HOME": str(tmp_path / "home")}

    text = cli(env, "render", "grpo", "--profile", "condor-setup", "-p", "model_path=/m").stdout
    assert "universe = docker\ndocker_image = arcctl-trainer:0.1.0\n" in text
    assert f"executable = {tmp_path / 'runs'}/" in text and "/job.sh\ntransfer_executable = true\n" in text
    assert "# job.sh (the executable above, written next to this file at submit):\n#   #!/bin/bash\n" in text
    assert f'#   set -e\n#   source {venv}/bin/activate\n#   module load cuda\n#   set +e\n#   exec "$@"\n' in text

    text = cli(env, "render", "grpo", "--profile", "local-setup", "-p", "model_path=/m").stdout
    assert (
        f'set -e\nsource {venv}/bin/activate\nmodule load cuda\nset +e\nexec "$@"\' arcctl-job python -m trainer run '
        in text
    ), text

    text = cli(env, "render", "grpo", "--profile", "local-python", "-p", "model_path=/m").stdout
    assert f"  {venv}/bin/python -m trainer run " in text and "activate" not in text, text
