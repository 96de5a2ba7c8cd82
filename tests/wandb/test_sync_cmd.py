"""`arcctl wandb-sync RUN` through the real binary: a run dir or registry job with offline W&B runs
made by the real wandb package (offline, nowhere to send anything), printed or run; bad input is
one line and exit code 2."""

from __future__ import annotations

import json
import shlex

import pytest

from jobs import wandb_files
from tests.console.conftest import sshd  # noqa: F401 - a fixture: the loopback sshd
from tests.cli_jobs.conftest import run_cli

pytest.importorskip("wandb")
pytestmark = pytest.mark.timeout(120)


def offline_run(run_dir, run_id: str, starts: int = 2) -> list[str]:
    """A run dir whose W&B run started `starts` times offline (what a requeued job leaves)."""
    import wandb

    run_dir.mkdir(parents=True, exist_ok=True)
    wandb_files.write_run(run_dir, wandb_files.WandbRun(id=run_id, project="p"))
    for step in range(starts):
        run = wandb.init(id=run_id, resume="allow", mode="offline", dir=str(run_dir), project="p")
        run.log({"train/global_step": step + 1})
        run.finish()
    wandb.teardown()  # wandb's service writes the files after finish() returns: wait for it
    return wandb_files.offline_runs(str(run_dir))


def test_print_gives_the_exact_command_and_dry_run_runs_it(home, tmp_path, no_wandb_login):
    run_dir = tmp_path / "runs" / "lr 1e-6"  # a space: the printed command must quote it
    starts = offline_run(run_dir, "abc12345")
    assert len(starts) == 2 and starts == sorted(starts)
    res = run_cli("wandb-sync", str(run_dir), "--print", check=True)
    assert shlex.split(res.stdout) == ["wandb", "sync", *starts]
    res = run_cli("wandb-sync", str(run_dir), "--dry-run", check=True)  # the real `wandb sync`, uploads nothing
    assert "running: wandb sync --dry-run" in res.stderr and "Would sync 2 run(s)" in res.stderr


@pytest.mark.sshd
def test_a_run_on_another_host_gets_the_command_to_run_there(home, tmp_path, no_wandb_login, sshd):  # noqa: F811
    run_dir = tmp_path / "remote-run"
    starts = offline_run(run_dir, "rem0te01", starts=1)
    env = {"ARCCTL_SSH_CONFIG": str(sshd.ssh_config(tmp_path / "ssh_config"))}
    res = run_cli("wandb-sync", f"testhost:{run_dir}", env=env, check=True)  # listed over SFTP
    ssh, host, line = shlex.split(res.stdout)
    assert (ssh, host, shlex.split(line)) == ("ssh", "testhost", ["wandb", "sync", *starts])


def test_a_rollback_child_is_synced_with_its_parent(home, tmp_path, no_wandb_login):
    parent, child = tmp_path / "runs" / "parent", tmp_path / "runs" / "parent_rollback1"
    starts = offline_run(parent, "parent01", starts=1) + offline_run(child, "child001", starts=1)
    (child / "spec.json").write_text("{}")
    (parent / "events.jsonl").write_text(
        json.dumps({"event": "rollback", "time": 1.0, "step": 8, "status": "continued", "child_run_dir": str(child)})
        + "\n"
    )
    res = run_cli("wandb-sync", str(parent), "--print", check=True)
    assert shlex.split(res.stdout) == ["wandb", "sync", *starts]


def test_a_registry_job_and_an_online_run(home, tmp_path, no_wandb_login):
    from jobs.registry import Registry
    from jobs.spec import JobSpec

    run_dir = tmp_path / "runs" / "online-run"
    spec = JobSpec(kind="command", name="online-run", template="command", run_dir=str(run_dir), params={})
    run_dir.mkdir(parents=True)
    spec.write()
    Registry().reserve(spec)
    wandb_files.write_run(run_dir, wandb_files.WandbRun(id="onl1ne00"))
    (run_dir / "wandb" / "run-20260101_000000-onl1ne00").mkdir(parents=True)  # what an online run leaves
    res = run_cli("wandb-sync", "online-run", check=True)
    assert "onl1ne00" in res.stdout and "nothing to sync" in res.stdout


@pytest.mark.parametrize(
    "setup, message",
    [
        ("plain", "no W&B run in"),
        ("damaged", "wandb-run.json: not a W&B run record"),
        ("missing", "not a run dir"),
    ],
)
def test_bad_input_is_one_line(home, tmp_path, setup, message):
    run_dir = tmp_path / "run"
    if setup != "missing":
        run_dir.mkdir()
        (run_dir / "spec.json").write_text("{}")
    if setup == "damaged":
        (run_dir / wandb_files.RUN_FILE).write_text('{"id": "bad id with spaces"}')
    res = run_cli("wandb-sync", str(run_dir))
    assert res.returncode == 2 and message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
