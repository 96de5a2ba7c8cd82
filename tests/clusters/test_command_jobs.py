"""Any command as a job (`arcctl submit command -- PROGRAM ARGS…`): run dir, registry, logs,
metrics written with the README's helper, cancel, resume by running it again, and the same job on
the real Slurm over the real sshd; the HTCondor description of a command job is valid."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.clusters.conftest import cli, ended, ls, wait_for

README = Path(__file__).resolve().parents[2] / "README.md"
pytestmark = pytest.mark.timeout(240)


def _helper() -> str:
    """The metrics helper exactly as the README documents it."""
    text = README.read_text()
    i = text.index("def log_metrics(")
    start = text.rindex("```python\n", 0, i) + len("```python\n")
    return text[start : text.index("```", i)]


@pytest.fixture
def env(tmp_path):
    cfg = tmp_path / "config"
    (cfg / "profiles").mkdir(parents=True)
    (cfg / "profiles" / "quick.toml").write_text('[profile]\nbackend = "local"\n[options]\ncancel_grace_s = 1\n')
    return {**os.environ, "ARCCTL_CONFIG_DIR": str(cfg), "ARCCTL_HOME": str(tmp_path / "home")}


def test_a_script_with_the_readme_helper_runs_as_a_local_job(env, tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    (work / "finetuning.py").write_text(
        _helper()
        + (
            "\nimport sys\n"
            "steps = int(sys.argv[sys.argv.index('--steps') + 1])\n"
            "for s in range(1, steps + 1):\n"
            "    log_metrics(s, loss=1.0 / s)\n"
            "print('cwd', os.getcwd(), 'run dir', os.environ['ARCCTL_RUN_DIR'])\n"
        )
    )
    jid = cli(
        env, "submit", "command", "--profile", "quick", "-q", "--", "python", "finetuning.py", "--steps", "3", cwd=work
    ).stdout.split()[0]
    job = wait_for(lambda: ended(env, jid), timeout=60, interval=0.5, what="command job ended")
    rd = Path(job["run_dir"])
    assert job["state"] == "completed" and job["exit_code"] == 0, (rd / "stderr.log").read_text()
    assert rd.name == "finetuning"  # named after its script
    spec = json.loads((rd / "spec.json").read_text())
    assert spec["kind"] == "command" and spec["entry"][1] == str(work / "finetuning.py")
    assert (rd / "stdout.log").read_text().strip() == f"cwd {rd} run dir {rd}"
    out = cli(env, "tail", jid, "--metrics").stdout
    assert [line.split()[1] for line in out.splitlines() if line.startswith("step ")] == ["1", "2", "3"], out


def _submit_sh(env, profile: str, name: str, script: str) -> str:
    """The job id of `arcctl submit command` running `script` with /bin/sh on `profile`."""
    argv = ("submit", "command", "--profile", profile, "--name", name, "-q", "--", "/bin/sh", "-c", script)
    return cli(env, *argv).stdout.split()[0]


def test_cancel_and_resume_by_running_again(env, tmp_path):
    jid = _submit_sh(env, "quick", "sleeper", "echo $$ > pid.txt; exec sleep 300")
    rd = Path(ls(env)[jid]["run_dir"])
    pid = int(wait_for(lambda: (rd / "pid.txt").exists() and (rd / "pid.txt").read_text().strip(), timeout=30))
    cli(env, "cancel", jid)
    wait_for(lambda: ls(env)[jid]["state"] == "cancelled", timeout=30, interval=0.5, what="cancelled")
    assert not Path(f"/proc/{pid}").exists()

    # fails the first time, succeeds when run again in the same run dir (it left a marker there)
    jid = _submit_sh(
        env, "quick", "flaky", "if [ -e tried ]; then echo second; else touch tried; echo first; exit 3; fi"
    )
    job = wait_for(lambda: ended(env, jid), timeout=60, interval=0.5, what="first attempt")
    assert (job["state"], job["exit_code"]) == ("failed", 3)
    cli(env, "resume", jid)
    job = wait_for(lambda: (j := ended(env, jid)) and j["state"] != "failed" and j, timeout=60, interval=0.5)
    assert job["state"] == "completed" and job["run_dir"].endswith("/flaky")
    assert (Path(job["run_dir"]) / "stdout.log").read_text().split() == ["first", "second"]


def test_bad_command_use_is_one_line(env):
    res = cli(env, "submit", "command", "--profile", "quick", check=False)
    assert res.returncode == 2 and "without a command" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = cli(env, "submit", "grpo", "-p", "model_path=/m", "--", "ls", check=False)
    assert res.returncode == 2 and "for command jobs" in res.stderr and "Traceback" not in res.stderr


def test_htcondor_description_of_a_command_job(env, monkeypatch):
    import htcondor2

    from jobs.backends.htcondor import validate_submit
    from jobs.submit import build_specs, render

    monkeypatch.setenv("USER", "someone")  # the example's runs_root names $USER
    [spec] = build_specs("command", [], "condor-example", command=["accelerate", "launch", "train.py", "--lr", "1e-5"])
    [(_, art)] = render([spec])
    validate_submit(art.text)
    sub = htcondor2.Submit(art.text)
    assert sub["executable"] == "accelerate"  # in the docker image's PATH
    assert sub.expand("arguments") == '"launch train.py --lr 1e-5"' and "spec.json" not in art.text


@pytest.mark.slurm
@pytest.mark.sshd
def test_a_command_job_on_slurm_over_ssh(slurm, ssh_config, env, tmp_path):
    (Path(env["ARCCTL_CONFIG_DIR"]) / "profiles" / "sshslurm.toml").write_text(
        f'[profile]\nbackend = "slurm"\nhost = "testhost"\nruns_root = "{tmp_path / "runs"}"\n'
        f'[resources]\ncpus = 1\nmemory = "100M"\n[options]\nslurm_conf = "{slurm.conf}"\n'
    )
    env = {**env, "ARCCTL_SSH_CONFIG": str(ssh_config)}
    script = 'echo "on $SLURM_JOB_ID"; printf \'{"step": 1, "loss": 0.5}\\n\' > "$ARCCTL_RUN_DIR/metrics.jsonl"'
    jid = _submit_sh(env, "sshslurm", "remote-cmd", script)
    job = wait_for(lambda: ended(env, jid), timeout=120, interval=1.0, what="slurm command job ended")
    assert job["state"] == "completed" and job["host"] == "testhost", job
    assert re.fullmatch(r"on \d+\n", (Path(job["run_dir"]) / "stdout.log").read_text())
    out = cli(env, "tail", jid, "--metrics").stdout  # read over SFTP
    assert [line.split()[1] for line in out.splitlines() if line.startswith("step ")] == ["1"]
