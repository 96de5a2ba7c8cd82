"""`arcctl submit` killed (SIGKILL) or interrupted (Ctrl-C) at every point of a local start never
leads to a second launch, and `arcctl cancel` stops the one job that runs.

The start window is widened with the test hook of jobs.backends.local_wrapper: at the chosen point
the launcher (or the wrapper it started) waits until the test releases it, so the kill lands
exactly there every time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from jobs.backends.local_wrapper import PAUSE_DIR_ENV, PAUSE_ENV
from tests.cli_jobs.conftest import ARCCTL, fake_template, home, run_cli, wait_for  # noqa: F401

POINTS = ["before_start", "wrapper_before_claim", "wrapper_after_claim", "after_start"]


@pytest.fixture
def long_job(home, tmp_path):  # noqa: F811 - pytest fixture reuse
    """A template whose fake trainer runs ~60 s (long enough to be cancelled on a loaded machine)."""
    cfg = Path(os.environ["ARCCTL_CONFIG_DIR"])
    (cfg / "templates" / "fakelong.toml").write_text(fake_template("fakelong", "--steps 600 --sleep 0.1"))
    return "fakelong"


def _wrappers(run_dir: str) -> list[int]:
    """Live local_wrapper processes of this run dir (zombies excluded)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"jobs.backends.local_wrapper" in argv and run_dir.encode() in argv and state != "Z":
            out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _started(run_dir: str) -> list[dict]:
    try:
        lines = Path(run_dir, "events.jsonl").read_text().splitlines()
    except OSError:
        return []
    return [e for e in map(json.loads, lines) if e.get("event") == "started"]


def _ls() -> list[dict]:
    return json.loads(run_cli("ls", "--json", check=True).stdout)


def _interrupted_submit(template: str, pause: Path, point: str, sig: int) -> None:
    env = {**os.environ, PAUSE_ENV: point, PAUSE_DIR_ENV: str(pause)}
    # Ctrl-C in a terminal: SIGINT at its default disposition, even when the tests themselves run as a
    # background job of a non-interactive shell (which starts them with SIGINT ignored, inherited here)
    p = subprocess.Popen(
        [ARCCTL, "submit", template],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_for(lambda: (pause / f"{point}.reached").exists() or p.poll() is not None, timeout=60)
        assert p.poll() is None, f"submit ended before reaching {point}: {p.communicate()}"
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode != 0, f"the interrupted submit reported success: {out} {err}"
    assert "Traceback" not in err


@pytest.mark.timeout(240)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["sigkill", "ctrl-c"])
@pytest.mark.parametrize("point", POINTS)
def test_interrupted_start_launches_once_and_cancel_stops_it(long_job, tmp_path, point, sig):
    pause = tmp_path / "pause"
    pause.mkdir()
    _interrupted_submit(long_job, pause, point, sig)

    [job] = _ls()  # recovers the row and pumps the queue while the paused process still waits
    run_dir = job["run_dir"]
    _ls()
    (pause / f"{point}.release").touch()  # the paused launcher or wrapper carries on now

    wait_for(lambda: _started(run_dir), timeout=90)
    # the losing wrapper (if any) exits at once; the winner supervises the ~60 s job
    wait_for(lambda: len(_wrappers(run_dir)) == 1, timeout=60)
    # nobody is left to record the start but `ls`, whose polls are rate-limited (local: 1 s):
    # the state it shows catches up on a later poll and must then be `running`
    wait_for(lambda: _ls()[0]["state"] == "running", timeout=30)
    assert len(_started(run_dir)) == 1, _started(run_dir)
    queue = list((Path(os.environ["ARCCTL_HOME"]) / "local" / "queue").glob("*.json"))
    assert [json.loads(q.read_text())["state"] for q in queue] == ["started"]

    trainer_pid = _started(run_dir)[0]["pid"]
    wrapper_pid = _wrappers(run_dir)[0]
    run_cli("cancel", job["id"], check=True)
    wait_for(lambda: not _alive(trainer_pid) and not _alive(wrapper_pid), timeout=60)
    assert _wrappers(run_dir) == []
    wait_for(lambda: _ls()[0]["state"] == "cancelled", timeout=30)
    assert len(_started(run_dir)) == 1


@pytest.mark.timeout(240)
def test_cancel_right_after_a_killed_submit_stops_the_job_the_registry_never_heard_of(long_job, tmp_path):
    """Killed after the wrapper started, before anything was recorded: the registry row has no
    backend id yet, and `arcctl cancel` must still stop what runs (and nothing starts later)."""
    pause = tmp_path / "pause"
    pause.mkdir()
    _interrupted_submit(long_job, pause, "after_start", signal.SIGKILL)
    run_dir = str(next((Path(os.environ["ARCCTL_HOME"]) / "runs").iterdir()))
    wait_for(lambda: _started(run_dir), timeout=90)
    trainer_pid = _started(run_dir)[0]["pid"]
    [wrapper_pid] = _wrappers(run_dir)

    res = run_cli("cancel", Path(run_dir).name, check=True)
    assert "cancel" in res.stdout
    wait_for(lambda: not _alive(trainer_pid) and not _alive(wrapper_pid), timeout=60)
    [job] = _ls()
    assert job["state"] == "cancelled"
    _ls()
    assert _wrappers(run_dir) == [] and len(_started(run_dir)) == 1
