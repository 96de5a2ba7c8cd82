"""Run dirs a user deletes or names badly: a running job whose run dir was removed (cancel used to
die on the `cancelled` marker, leave the job `unknown` forever and its process running), the runs
root given as one job's --run-dir (every later run was created inside that job's folder), folder
names past Linux's 255 bytes (a traceback from the first stat), and a metrics file replaced under
a reader."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from jobs.backends.local import LocalBackend
from jobs.backends.local_wrapper import proc_start_time
from jobs.rundir import JsonlTail
from jobs.spec import JobSpec
from tests.cli_jobs.conftest import one_line_error, run_cli, tree, wait_for

pytestmark = pytest.mark.timeout(120)


def _job(ref: str) -> dict:
    return json.loads(run_cli("show", ref, "--json", check=True).stdout)


def test_cancel_of_a_job_whose_run_dir_was_deleted_stops_it(home):
    res = run_cli("submit", "command", "--profile", "quick", "-q", "--", "sleep", "60", check=True)
    job_id = res.stdout.split()[0]
    run_dir = _job(job_id)["run_dir"]
    pid_file = wait_for(lambda: (p := home / "runs" / run_dir.rsplit("/", 1)[1] / "pid").exists() and p, what="pid")
    pid, start = pid_file.read_text().split()
    shutil.rmtree(run_dir)

    res = run_cli("cancel", job_id)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert _job(job_id)["state"] == "cancelled"
    # the wrapper (found through the local queue, its pid file being gone) and its job are stopped
    wait_for(lambda: proc_start_time(int(pid)) != start, timeout=20, what="the wrapper to stop")
    queue = list((home / "local" / "queue").glob("*.json"))
    assert [json.loads(q.read_text())["pid"] for q in queue] == [int(pid)]
    LocalBackend().pump()  # what every status pass does: the queue lets go of the job and its GPUs
    assert list((home / "local" / "queue").glob("*.json")) == []


def test_a_queued_job_whose_run_dir_was_deleted_is_not_started_and_can_be_cancelled(home):
    profile = home.parent / "config" / "profiles" / "onegpu.toml"
    profile.write_text('[profile]\nbackend = "local"\n[options]\nvisible_gpus = "0"\ncancel_grace_s = 1\n')
    res = run_cli("submit", "fake", "--profile", "onegpu", "-q", "-p", "resources.gpus=2", check=True)
    job_id = res.stdout.split()[0]
    (entry,) = (home / "local" / "queue").glob("*.json")
    shutil.rmtree(_job(job_id)["run_dir"])
    # as if GPUs had come free: the pump skips the entry instead of starting a job without a folder
    queued = json.loads(entry.read_text())
    entry.write_text(json.dumps({**queued, "need": 1}))
    LocalBackend({"visible_gpus": "0"}).pump()
    assert json.loads(entry.read_text())["state"] == "queued"
    res = run_cli("cancel", job_id)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert _job(job_id)["state"] == "cancelled"
    assert not entry.exists()


@pytest.mark.parametrize("where", ["runs", "runs/", "runs/../runs", "", "."])
def test_the_runs_root_or_home_as_a_run_dir_is_refused(home, where):
    target = f"{home}/{where}" if where else str(home)
    res = run_cli("submit", "fake", "--run-dir", target)
    one_line_error(res, "would hold", "choose a folder of its own")
    assert tree(home / "runs") == []
    assert run_cli("submit", "fake", "-q", "--run-dir", f"{home}/runs/mine", check=True).returncode == 0


def test_folder_names_past_255_bytes_are_one_line(home, tmp_path):
    one_line_error(run_cli("submit", "fake", "--run-dir", str(tmp_path / ("a" * 256))), "longer than 255 bytes")
    one_line_error(run_cli("render", "fake", "--run-dir", "/x" * 2100), "longer than 4095 bytes")
    job = run_cli("submit", "fake", "-q", "--profile", "quick", check=True).stdout.split()[0]
    one_line_error(run_cli("fork", job, "--name", "é" * 128), "longer than 255 bytes")
    assert run_cli("fork", job, "--name", "b" * 255).returncode == 0


def _rows(*steps: int, tag: str = "") -> str:
    return "".join(json.dumps({"step": s, "time": s, "reward": s / 10, "run": tag}) + "\n" for s in steps)


def test_a_jsonl_file_replaced_and_grown_between_two_reads_is_read_from_its_start(tmp_path):
    """A resume from checkpoint-2 rewrites metrics.jsonl with rows up to step 2, then the trainer
    appends. A reader that polled only after the new file had grown past its offset (a slow SFTP
    poll, a busy machine) went on reading at the old offset: the rows in between were lost and the
    line cut at the offset was dropped as damaged."""
    path = tmp_path / "metrics.jsonl"
    path.write_text(_rows(1, 2, 3, 4, tag="first"))
    tail = JsonlTail(str(path))
    assert [r["step"] for r in tail.read_new()] == [1, 2, 3, 4]
    new = tmp_path / "new.jsonl"
    new.write_text(_rows(1, 2, tag="first") + _rows(3, 4, 5, 6, tag="resumed"))
    os.replace(new, path)
    got = tail.read_new()
    assert [(r["step"], r["run"]) for r in got][-4:] == [(3, "resumed"), (4, "resumed"), (5, "resumed"), (6, "resumed")]
    assert tail.resets == 1 and tail.bad_lines == 0
    # the same file, appended to: only the new rows, no reset
    with path.open("a") as f:
        f.write(_rows(7, tag="resumed"))
    assert [r["step"] for r in tail.read_new()] == [7] and tail.resets == 1


def test_an_output_may_not_replace_a_file_the_command_reads(home, tmp_path):
    """`submission build RUN -o RUN/eval/predictions.jsonl` replaced an eval's predictions (hours
    of sampling) with the submission built from them; refine-data could do the same."""
    run = tmp_path / "evalrun"
    (run / "eval").mkdir(parents=True)
    JobSpec(
        kind="eval", name="e", template="eval", params={"model_path": "m", "dataset": "arc1/eval"}, run_dir=str(run)
    ).write()
    (run / "eval" / "metrics.json").write_text(json.dumps({"aggregate": {}, "task_tests": {"t1": 1}}))
    pred = {"task_id": "t1", "test_outputs": [[[1]]], "train_correct": [True], "code": "x", "error": None}
    (run / "eval" / "predictions.jsonl").write_text(json.dumps(pred) + "\n")
    (tmp_path / "link.json").symlink_to(run / "eval" / "metrics.json")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    for out in ["eval/predictions.jsonl", "../link.json"]:
        res = run_cli("submission", "build", str(run), "-o", str(run / out))
        one_line_error(res, "which this command reads")
    one_line_error(run_cli("refine-data", str(run), "-o", str(run / "spec.json")), "which this command reads")
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    run_cli("submission", "build", str(run), check=True)
    assert (run / "submission.json").is_file()


def test_fetch_into_its_own_run_dir_is_refused(tmp_path):
    """A destination inside the checkpoint copied it into itself (the checkpoint kept a nested copy
    and a .partial folder); one beside it (RUN/checkpoint-6) became a newer checkpoint that resume
    and fork would pick."""
    run = tmp_path / "run"
    ck = run / "checkpoint-5"
    ck.mkdir(parents=True)
    (ck / "trainer_state.json").write_text('{"global_step": 5, "log_history": []}')
    (ck / "adapter_config.json").write_text("{}")
    (ck / "adapter_model.safetensors").write_bytes(b"w")
    before = tree(run)
    for dest in [ck, ck / "sub", run / "checkpoint-6"]:
        one_line_error(run_cli("fetch", str(run), "checkpoint-5", str(dest)), "is inside the run dir")
    assert tree(run) == before
    run_cli("fetch", str(run), "checkpoint-5", str(tmp_path / "copy"), check=True)
    assert tree(tmp_path / "copy") == tree(ck)


def test_a_run_dir_inside_another_through_a_symlinked_home_is_refused(home, tmp_path):
    """The registry spells run dirs as they were given: with ARCCTL_HOME a symlink, the same run dir
    by its real path passed the nesting check, and the new run sat inside the other job's folder."""
    real = tmp_path / "realhome"
    real.mkdir()
    (tmp_path / "linkhome").symlink_to(real)
    env = {"ARCCTL_HOME": str(tmp_path / "linkhome")}
    run_cli("submit", "fake", "-q", "--profile", "quick", env=env, check=True)
    inner = real / "runs" / "fake_lr1e-6" / "inner"
    one_line_error(run_cli("submit", "fake", "--run-dir", str(inner), env=env), "is inside the run dir")
    assert not inner.exists()
