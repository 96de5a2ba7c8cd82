"""Hostile files: `-o` outputs that are devices, pipes, folders or links; run-dir files that are
named pipes or links to /dev/zero; a registry written by a newer arcctl. Nothing hangs, nothing
that is not a plain file is replaced, and nothing is written where it could break rows we do not
understand."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from jobs.errors import SpecError
from jobs.fork import fork_spec
from jobs.registry import SCHEMA_VERSION, Registry
from tests.cli_jobs.conftest import one_line_error, run_cli, tree

pytestmark = pytest.mark.timeout(120)


# ---- -o outputs ----------------------------------------------------------------------------------


@pytest.fixture
def eval_run(tmp_path):
    run = tmp_path / "evalrun"
    (run / "eval").mkdir(parents=True)
    (run / "eval" / "metrics.json").write_text(json.dumps({"aggregate": {}, "task_tests": {"t1": 1}}))
    pred = {"task_id": "t1", "test_outputs": [[[1]]], "train_correct": [True], "code": "x", "error": None}
    (run / "eval" / "predictions.jsonl").write_text(json.dumps(pred) + "\n")
    return run


def _read_pipe(path: Path, got: list[bytes]) -> threading.Thread:
    t = threading.Thread(target=lambda: got.append(path.read_bytes()), daemon=True)
    t.start()
    return t


def test_output_to_a_named_pipe_writes_into_it(home, eval_run, tmp_path):
    """`-o /dev/null` or `-o /dev/stdout` was renamed over: as root that replaces the device
    itself with a regular file. A pipe shows the same without touching the machine's /dev."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    got: list[bytes] = []
    reader = _read_pipe(pipe, got)
    res = run_cli("submission", "build", str(eval_run), "-o", str(pipe))
    assert res.returncode == 0, res.stderr
    reader.join(10)
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)  # still the pipe, not a file put in its place
    assert json.loads(got[0])["t1"][0]["attempt_1"] == [[1]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "evalrun", "pipe"]  # no temporary file


def test_output_keeps_a_symlink_and_a_users_tmp_file(home, eval_run, tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    mine = tmp_path / "link.json.tmp"  # a file of the user's that a fixed temporary name clobbered
    mine.write_text("keep me")
    real.chmod(0o640)
    run_cli("submission", "build", str(eval_run), "-o", str(link), check=True)
    assert link.is_symlink() and json.loads(real.read_text())["t1"]
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert mine.read_text() == "keep me"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp") and p != mine]
    assert leftovers == []


@pytest.mark.parametrize("where", ["folder", "below_a_file", "proc"])
def test_an_output_that_cannot_be_written_is_one_line(home, eval_run, tmp_path, where):
    out = {
        "folder": tmp_path,
        "below_a_file": eval_run / "eval" / "metrics.json" / "sub.json",
        "proc": Path("/proc/sub.json"),
    }[where]
    before = tree(tmp_path)
    one_line_error(run_cli("submission", "build", str(eval_run), "-o", str(out)), str(out))
    assert tree(tmp_path) == before


def test_refine_file_output_to_a_pipe(tmp_path):
    from jobs.refine import RefineFile, write

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    got: list[bytes] = []
    reader = _read_pipe(pipe, got)
    write(pipe, RefineFile.model_construct(dataset="d", sources=[], records=[]))  # the writer, not the records
    reader.join(10)
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode) and json.loads(got[0])["dataset"] == "d"


# ---- run-dir files that never end ----------------------------------------------------------------


@pytest.fixture
def endless_run(home, tmp_path):
    """A run dir whose spec.json links to /dev/zero, eval/metrics.json is a named pipe with no
    writer and exit_code is one too: reading any of them whole never returned."""
    parent = tmp_path / "parent"
    run_cli("submit", "fake", "--run-dir", str(parent), "-q", check=True)
    run = tmp_path / "endless"
    (run / "eval").mkdir(parents=True)
    (run / "spec.json").symlink_to("/dev/zero")
    os.mkfifo(run / "eval" / "metrics.json")
    (run / "metrics.jsonl").write_text('{"step": 1, "reward": 0.5}\n')
    pipes = tmp_path / "pipes"
    pipes.mkdir()
    (pipes / "spec.json").write_text((parent / "spec.json").read_text())
    os.mkfifo(pipes / "exit_code")
    os.mkfifo(pipes / "trainer_state.json")
    return run, pipes


def test_readers_refuse_pipes_and_devices_instead_of_hanging(endless_run):
    run, pipes = endless_run
    res = run_cli("tail", str(run), timeout=20)
    assert res.returncode == 0 and "step 1  reward=0.5" in res.stdout, res.stderr
    res = run_cli("health", str(run), timeout=20)
    assert res.returncode in (0, 2) and "Traceback" not in res.stderr, res.stderr
    assert "spec.json" in res.stdout + res.stderr
    one_line_error(run_cli("compare", str(run), timeout=20), "metrics.json", "not a regular file")
    with pytest.raises(SpecError, match="spec.json.*not a regular file"):
        fork_spec(str(run))
    for args in (["tail", str(pipes)], ["compare", str(pipes), "--plot", "reward"], ["health", str(pipes)]):
        res = run_cli(*args, timeout=20)
        assert "Traceback" not in res.stderr, res.stderr


# ---- a registry from a newer arcctl --------------------------------------------------------------


def test_a_registry_from_a_newer_arcctl_is_read_but_never_written(home):
    run_cli("submit", "fake", "-q", check=True)
    path = home / "registry.sqlite"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    runs = sorted(os.listdir(home / "runs"))
    res = run_cli("ls")
    assert res.returncode == 0 and "fake_lr1e-6" in res.stdout, res.stderr
    assert "newer arcctl" in res.stderr
    one_line_error(run_cli("submit", "fake"), "newer arcctl", "upgrade")
    assert sorted(os.listdir(home / "runs")) == runs  # no run dir left behind by the refused submit
    reg = Registry()
    assert reg.readonly and reg.count() == 1
    reg.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1
    db.close()


# ---- fetch destinations --------------------------------------------------------------------------


@pytest.fixture
def checkpointed_run(home, tmp_path):
    run = tmp_path / "parent"
    run_cli("submit", "fake", "--run-dir", str(run), "-q", check=True)
    ck = run / "checkpoint-5"
    ck.mkdir()
    (ck / "trainer_state.json").write_text('{"global_step": 5}')
    (ck / "adapter_model.safetensors").write_bytes(b"w" * 1000)
    return run


def test_fetch_never_touches_a_users_folder_named_like_its_scratch(checkpointed_run, tmp_path):
    mine = tmp_path / "out" / "ck.partial"  # the fixed scratch name fetch used to delete first
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("keep me")
    run_cli("fetch", str(checkpointed_run), "5", str(tmp_path / "out" / "ck"), check=True)
    assert (mine / "notes.txt").read_text() == "keep me"
    assert (tmp_path / "out" / "ck" / "adapter_model.safetensors").stat().st_size == 1000
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ck", "ck.partial"]


@pytest.mark.parametrize("where", ["below_a_file", "proc"])
def test_fetch_to_an_impossible_place_is_one_line(checkpointed_run, tmp_path, where):
    dest = {"below_a_file": checkpointed_run / "spec.json" / "ck", "proc": Path("/proc/ck")}[where]
    one_line_error(run_cli("fetch", str(checkpointed_run), "5", str(dest)), str(dest))
    assert list(tmp_path.rglob("*partial*")) == []  # no half copy left anywhere


# ---- digits that are not ASCII -------------------------------------------------------------------


def test_a_checkpoint_named_with_a_superscript_digit_is_not_a_checkpoint(checkpointed_run):
    """'²'.isdigit() is true but int('²') raises: tail, health, fork and compare died on it."""
    odd = checkpointed_run / "checkpoint-²"
    odd.mkdir()
    (odd / "trainer_state.json").write_text('{"global_step": 2}')
    for args in (["tail", str(checkpointed_run)], ["health", str(checkpointed_run)]):
        res = run_cli(*args)
        assert res.returncode in (0, 1) and "Traceback" not in res.stderr and "ValueError" not in res.stderr, res
    res = run_cli("compare", str(checkpointed_run))
    assert "Traceback" not in res.stderr and "ValueError" not in res.stderr, res.stderr
    assert fork_spec(str(checkpointed_run)).resume_from.checkpoint == "checkpoint-5"


def test_an_arcctl_home_that_is_a_file_is_named(home, tmp_path):
    afile = tmp_path / "not-a-folder"
    afile.write_text("x")
    res = run_cli("submit", "fake", env={"ARCCTL_HOME": str(afile)})
    one_line_error(res, f"{afile} is a file, not a folder")


def test_a_run_dir_inside_another_jobs_run_dir_is_refused(home):
    """A resume of the outer job moves later checkpoint folders into branches/, and retention
    deletes old ones: a run made inside either would go with them."""
    run_cli("submit", "fake", "-q", check=True)
    outer = home / "runs" / "fake_lr1e-6"
    for inner in (outer / "fork", outer / "checkpoint-2" / "fork"):
        one_line_error(run_cli("submit", "fake", "--run-dir", str(inner)), "inside the run dir", str(outer))
        assert not inner.exists()
    run_cli("render", "fake", "--run-dir", str(home / "runs" / "beside"), check=True)


# ---- terminal escapes in what the model and its programs wrote -----------------------------------

TITLE, CLIPBOARD = "\x1b]0;owned\x07", "\x1b]52;c;cHduZWQ=\x07"  # set the window title, write the clipboard


def test_escape_sequences_from_the_run_never_reach_the_terminal(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    completion = {"step": 1, "task_id": "t", "completion": f"def transform(g):{TITLE}\n\treturn g", "reward": 0.5}
    with open(run / "completions.jsonl", "w") as f:
        f.write(json.dumps(completion) + "\n")
    with open(run / "events.jsonl", "w") as f:
        f.write(json.dumps({"time": 1, "event": "error", "message": f"boom{CLIPBOARD}", "tb": "a\nb"}) + "\n")
    (run / "stdout.log").write_text(f"step 1{TITLE} \x1b[32mreward=0.5\x1b[0m{CLIPBOARD}\n")
    for args, visible in (
        (["tail", str(run), "--completions"], "def transform(g):\\x1b]0;owned\\x07⏎\\treturn g"),
        (["tail", str(run), "--events"], "message=boom\\x1b]52;c;cHduZWQ=\\x07  tb=a\\nb"),
        (["logs", str(run)], "step 1 reward=0.5"),
    ):
        res = run_cli(*args)
        assert res.returncode == 0, res.stderr
        assert "\x1b]" not in res.stdout and "\x07" not in res.stdout, res.stdout
        assert visible in res.stdout and res.stdout.count("\n") == 1, res.stdout


def test_log_lines_keep_their_colours_and_tabs():
    from arcctl.cli.terminal_text import log_line

    line = f"\x1b[32mok\x1b[0m\t50%{TITLE}\x1b[2J\x9b2J|##|"
    assert log_line(line) == "\x1b[32mok\x1b[0m\t50%\\x9b2J|##|\x1b[0m"  # a coloured line ends reset
