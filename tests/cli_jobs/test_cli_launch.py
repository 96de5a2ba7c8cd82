"""End to end through the real `arcctl` binary: submit on the local profile launches a real
process (tests/cli_jobs/fake_trainer.py as the template's entry), and `arcctl ls` shows it go
queued -> running -> completed/failed with its exit code; cancel, resume, fork, tail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_jobs.conftest import fake_template, run_cli, wait_for


def ls() -> dict[str, dict]:
    res = run_cli("ls", "--json", check=True)
    return {j["id"]: j for j in json.loads(res.stdout)}


def state_of(jid: str) -> str:
    return ls()[jid]["state"]


def submit(*args: str) -> list[str]:
    res = run_cli("submit", *args, "-q", check=True)
    return res.stdout.split()


def _add_template(home: Path, name: str, args: str, gpus: int = 0) -> None:
    (home.parent / "config" / "templates" / f"{name}.toml").write_text(fake_template(name, args, gpus))


def _add_profile(home: Path, name: str, body: str) -> None:
    (home.parent / "config" / "profiles" / f"{name}.toml").write_text(body)


@pytest.mark.timeout(90)
def test_submit_runs_to_completion(home):
    _add_template(home, "mid", "--steps 8 --sleep 0.25")
    [jid] = submit("mid")
    assert len(jid) == 8
    # each `ls` is a CLI start, seconds on a loaded machine: the 2 s job may be done by the next
    wait_for(lambda: state_of(jid) in ("running", "completed"), timeout=60)
    job = wait_for(lambda: (lambda j: j if j["state"] == "completed" else None)(ls()[jid]))
    assert job["exit_code"] == 0
    rd = Path(job["run_dir"])
    assert rd.parent == home / "runs" and rd.name == "fake_lr1e-6"
    assert (rd / "exit_code").read_text().strip() == "0"
    assert len((rd / "metrics.jsonl").read_text().splitlines()) == 8
    assert "cuda ''" in (rd / "stdout.log").read_text()  # no GPUs here: CPU job
    assert "bye" in (rd / "stderr.log").read_text()
    assert json.loads((rd / "spec.json").read_text())["name"] == "fake_lr1e-6"
    table = run_cli("ls", check=True).stdout
    assert jid in table and "completed" in table


@pytest.mark.timeout(90)
def test_failure_shows_exit_code(home):
    [jid] = submit("fakefail")
    job = wait_for(lambda: (lambda j: j if j["state"] == "failed" else None)(ls()[jid]))
    assert job["exit_code"] == 3 and job["reason"] == "exit_code"
    show = run_cli("show", jid, check=True).stdout
    assert "exit_code:      3" in show and "stderr.log" in show


@pytest.mark.timeout(240)
def test_gpu_queue_least_used_and_waiting(home):
    """Two GPUs, three 1-GPU jobs: two run at once on different GPUs, the third waits `queued`
    and starts when a GPU frees up (the watcher behind `ls` starts it)."""
    # 20 s jobs: the first `ls` after submit must see two running and one waiting, also when a
    # loaded machine takes seconds to start the CLI (2.5 s jobs had ended by then)
    _add_template(home, "gpujob", "--steps 40 --sleep 0.5", gpus=1)
    _add_profile(home, "twogpu", '[profile]\nbackend = "local"\n[options]\nvisible_gpus = "0,1"\n')
    ids = submit("gpujob", "--profile", "twogpu", "-p", "learning_rate=1e-6,2e-6,3e-6")
    assert len(ids) == 3
    states = ls()
    assert sorted(states[i]["state"] for i in ids) == ["queued", "running", "running"]
    queued = next(i for i in ids if states[i]["state"] == "queued")
    assert "waiting for 1 free GPU" in states[queued]["detail"]
    wait_for(lambda: state_of(queued) == "running", timeout=90)
    wait_for(lambda: all(state_of(i) == "completed" for i in ids), timeout=90)
    cuda = {}
    for i in ids:
        ev = [json.loads(l) for l in (Path(ls()[i]["run_dir"]) / "events.jsonl").read_text().splitlines()]
        cuda[i] = ev[0]["cuda"]
    first_two = [cuda[i] for i in ids if i != queued]
    assert sorted(first_two) == ["0", "1"] and cuda[queued] in ("0", "1")


@pytest.mark.timeout(90)
def test_job_needing_more_gpus_than_exist_says_so(home):
    _add_template(home, "big", "--steps 1", gpus=4)
    _add_profile(home, "twogpu", '[profile]\nbackend = "local"\n[options]\nvisible_gpus = "0,1"\n')
    [jid] = submit("big", "--profile", "twogpu")
    job = ls()[jid]
    assert job["state"] == "queued" and "needs 4 GPUs, this machine has 2" in job["detail"]
    run_cli("cancel", jid, check=True)
    assert state_of(jid) == "cancelled"


@pytest.mark.timeout(90)
def test_cancel_sigterm_then_sigkill(home):
    [slow] = submit("fakeslow")
    [stubborn] = submit("fakestubborn", "--profile", "quick")
    wait_for(lambda: state_of(slow) == "running" and state_of(stubborn) == "running")
    rd = Path(ls()[stubborn]["run_dir"])
    wait_for(lambda: (rd / "metrics.jsonl").exists())
    out = run_cli("cancel", slow, stubborn, check=True).stdout
    assert slow in out and stubborn in out
    j = wait_for(lambda: (lambda j: j if j["state"] == "cancelled" else None)(ls()[slow]))
    assert j["exit_code"] == 143  # the trainer got SIGTERM and exited by itself
    j = wait_for(lambda: (lambda j: j if j["state"] == "cancelled" else None)(ls()[stubborn]), timeout=60)
    assert j["exit_code"] == 137  # ignored SIGTERM: SIGKILL after the 1 s grace
    assert "ignored_sigterm" in (rd / "events.jsonl").read_text()
    res = run_cli("cancel", slow)
    assert res.returncode != 0 and "already cancelled" in res.stderr


def _fake_checkpoint(run_dir: Path, step: int) -> None:
    ck = run_dir / f"checkpoint-{step}"
    ck.mkdir()
    (ck / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (ck / "adapter_model.safetensors").write_bytes(b"x")


@pytest.mark.timeout(120)
def test_fork_and_resume(home):
    [jid] = submit("fake")
    job = wait_for(lambda: (lambda j: j if j["state"] == "completed" else None)(ls()[jid]))
    rd = Path(job["run_dir"])
    _fake_checkpoint(rd, 2)

    out = run_cli("fork", jid, "-p", "learning_rate=5e-7", check=True).stdout.split()
    child = out[0]
    cj = json.loads(run_cli("show", child, "--json", check=True).stdout)
    spec = cj["spec"]
    assert spec["parent"] == {"run_dir": str(rd), "checkpoint": "checkpoint-2", "name": "fake_lr1e-6"}
    assert spec["resume_from"]["checkpoint"] == "checkpoint-2"
    assert spec["params"]["learning_rate"] == 5e-7 and cj["name"] == "fake_lr1e-6_fork2_learning_rate5e-7"
    assert Path(cj["run_dir"]).parent == rd.parent and cj["parent"] == str(rd)
    wait_for(lambda: state_of(child) == "completed")

    res = run_cli("resume", jid, "--checkpoint", "2", check=True)
    assert "checkpoint-2" in res.stdout
    wait_for(lambda: state_of(jid) == "completed" and ls()[jid]["restarts"] == 1)
    assert len((rd / "metrics.jsonl").read_text().splitlines()) == 6  # same run dir, appended
    spec = json.loads((rd / "spec.json").read_text())
    assert spec["resume_from"] == {"run_dir": str(rd), "checkpoint": "checkpoint-2", "name": "fake_lr1e-6"}

    bad = run_cli("fork", jid, "--checkpoint", "9")
    assert bad.returncode == 2 and "no checkpoint-9 (checkpoints: checkpoint-2)" in bad.stderr


@pytest.mark.timeout(60)
def test_tail(home):
    [jid] = submit("fake")
    wait_for(lambda: state_of(jid) == "completed")
    out = run_cli("tail", jid, check=True).stdout.splitlines()
    assert out[0].startswith("step 1") and "reward=0" in out[0] and len(out) == 3
    out = run_cli("tail", jid, "--metrics", "--json", "-n", "1", check=True).stdout.splitlines()
    assert json.loads(out[0])["step"] == 3
    ev = run_cli("tail", ls()[jid]["run_dir"], "--events", check=True).stdout
    assert "started" in ev and "stopped" in ev


@pytest.mark.timeout(60)
def test_tail_follow_reads_only_new_lines(home, tmp_path):
    rd = tmp_path / "run"
    rd.mkdir()
    (rd / "metrics.jsonl").write_text('{"step": 1, "reward": 1.0}\n{"step": 2, "rew')  # torn last line
    import subprocess

    from tests.cli_jobs.conftest import ARCCTL

    p = subprocess.Popen(
        [ARCCTL, "tail", str(rd), "--follow", "--poll", "0.05", "--max-seconds", "50"],  # bounds a hang
        stdout=subprocess.PIPE,
        text=True,
    )
    first = p.stdout.readline()  # the follower has read the file up to the torn line
    assert first.split()[:2] == ["step", "1"], first
    with open(rd / "metrics.jsonl", "a") as f:
        f.write('ard": 2.0}\n{"step": 3, "reward": 3.0}\n')
    lines = [first.rstrip("\n")]
    while len(lines) < 3:
        line = p.stdout.readline()
        assert line, f"tail --follow ended after {lines}"
        lines.append(line.rstrip("\n"))
    p.terminate()
    p.communicate(timeout=20)
    assert [l.split()[1] for l in lines] == ["1", "2", "3"]


@pytest.mark.timeout(90)
def test_queue_drains_without_anyone_watching(home):
    """One GPU, two jobs, and no `arcctl ls` in between: the first job's wrapper starts the second."""
    _add_template(home, "gpujob", "--steps 4 --sleep 0.2", gpus=1)
    _add_profile(home, "onegpu", '[profile]\nbackend = "local"\n[options]\nvisible_gpus = "0"\n')
    submit("gpujob", "--profile", "onegpu", "-p", "learning_rate=1e-6,2e-6")
    runs = sorted((home / "runs").iterdir())
    assert len(runs) == 2
    wait_for(lambda: all((r / "exit_code").exists() for r in runs), timeout=60)
    starts = sorted(json.loads((r / "events.jsonl").read_text().splitlines()[0])["time"] for r in runs)
    ends = sorted((r / "exit_code").stat().st_mtime for r in runs)
    assert starts[1] >= ends[0] - 0.05  # one GPU: strictly one after the other


@pytest.mark.timeout(90)
def test_two_submits_at_once_get_distinct_run_dirs(home):
    """Two `arcctl submit` processes racing for the same auto-generated name: both jobs land,
    in different run dirs, both registered."""
    import subprocess

    from tests.cli_jobs.conftest import ARCCTL

    procs = [
        subprocess.Popen([ARCCTL, "submit", "fake", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    ids = [o[0].strip() for o in outs]
    jobs = ls()
    assert set(ids) == set(jobs)
    names = sorted(Path(j["run_dir"]).name for j in jobs.values())
    # usually -2, -3; a process that loses twice may end up with -2-2: distinct is what matters
    assert len(set(names)) == 3 and names[0] == "fake_lr1e-6" and all(n.startswith("fake_lr1e-6") for n in names)
    assert sorted(p.name for p in (home / "runs").iterdir()) == names
    wait_for(lambda: all(state_of(i) == "completed" for i in ids))
