"""Long CLI work reports progress: plain lines when stderr is piped (checked through the real
`arcctl fetch` over the loopback sshd), a rich bar on a terminal (checked in tmux)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from arcctl.cli.progress_out import progress

pytestmark = pytest.mark.timeout(120)


def test_plain_lines_when_piped(capsys):
    with progress("fetch checkpoint-2", total=3_000_000, unit="B", tty=False, every_s=0) as advance:
        advance(1_000_000)
        advance(2_000_000)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert [x.split(", ")[0] for x in lines] == [
        "fetch checkpoint-2: 1.0 MB of 3.0 MB (33%)",
        "fetch checkpoint-2: 3.0 MB of 3.0 MB (100%)",
        "fetch checkpoint-2: 3.0 MB of 3.0 MB (100%)",
    ]
    assert "\r" not in err and "\x1b" not in err
    with progress("refine-data", unit="tasks", tty=False, every_s=3600) as advance:
        for _ in range(40):
            advance(1)
    assert capsys.readouterr().err.split(", ")[0] == "refine-data: 40 tasks"  # only the last line


def make_run(root: Path) -> Path:
    run = root / "run"
    ck = run / "checkpoint-2"
    ck.mkdir(parents=True)
    (ck / "trainer_state.json").write_text('{"global_step": 2}')
    (ck / "adapter_model.safetensors").write_bytes(os.urandom(3_000_000))
    (run / "spec.json").write_text("{}")
    return run


@pytest.mark.sshd
def test_fetch_over_sftp_reports_bytes_when_piped(home, tmp_path, sshd):
    run = make_run(tmp_path)
    env = {"ARCCTL_SSH_CONFIG": str(sshd.ssh_config(tmp_path / "ssh_config"))}
    dest = tmp_path / "got"
    res = subprocess.run(
        [str(Path(sys.executable).parent / "arcctl"), "fetch", f"testhost:{run}", "2", str(dest)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("fetch checkpoint-2: 3.0 MB")
    assert (dest / "adapter_model.safetensors").read_bytes() == (
        run / "checkpoint-2" / "adapter_model.safetensors"
    ).read_bytes()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_a_bar_on_a_terminal(home, tmp_path):
    run = make_run(tmp_path)
    name = f"arcctl-progress-{uuid.uuid4().hex[:8]}"
    cmd = f"env -u COLUMNS -u LINES ARCCTL_HOME={home} {Path(sys.executable).parent / 'arcctl'} fetch {run} 2 {tmp_path / 'got'}; sleep 30"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "10", cmd],
        check=True,
        env={**os.environ, "TERM": "xterm-256color"},
    )
    try:
        for _ in range(300):  # 30 s bounds a hang: a loaded machine starts the CLI in seconds
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout
            if "->" in screen and "fetch checkpoint-2" in screen and "━" in screen and "3.0 MB" in screen:
                break
            time.sleep(0.1)
        assert "fetch checkpoint-2" in screen and "━" in screen and "3.0 MB" in screen, screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def make_eval_run(root: Path, n: int = 300) -> Path:
    """An eval run dir as the eval job leaves it: spec.json and eval/predictions.jsonl."""
    run = root / "eval-run"
    (run / "eval").mkdir(parents=True)
    from jobs.spec import JobSpec

    JobSpec(
        kind="eval",
        name="eval-run",
        template="eval",
        params={"model_path": "m", "dataset": "arc1/train"},
        run_dir=str(run),
    ).write()
    with open(run / "eval" / "predictions.jsonl", "w") as f:
        for i in range(n):
            f.write(
                json.dumps(
                    {
                        "task_id": "67a3c6ac",
                        "sample": i,
                        "code": f"def transform(g):\n    return g  # {i}",
                        "error": "runtime_error",
                        "train_correct": [False, False, False],
                    }
                )
                + "\n"
            )
    return run


def test_refine_data_plain_lines_when_piped(home, tmp_path):
    run = make_eval_run(tmp_path)
    res = subprocess.run(
        [str(Path(sys.executable).parent / "arcctl"), "refine-data", str(run), "-o", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines()[-1].startswith("refine-data: 300 predictions, ")
    assert "\r" not in res.stderr and "\x1b" not in res.stderr
    assert "300 records" in res.stdout


def test_refine_data_bar_on_a_pty(home, tmp_path):
    """stderr a terminal (a pseudo-terminal here): a rich bar, drawn with escape codes."""
    import pty

    run = make_eval_run(tmp_path)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "arcctl"), "refine-data", str(run), "-o", str(tmp_path / "r.json")],
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"},
    )
    os.close(slave)
    out, _ = proc.communicate(timeout=60)
    screen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    text = screen.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "refine-data" in text and "━" in text and "300 predictions" in text and "\x1b[" in text, text
    assert "refine-data: 300 predictions, " not in text  # not the plain line
    assert "300 records" in out


def test_submission_build_reports_when_piped(home, tmp_path):
    run = make_eval_run(tmp_path, n=3)
    (run / "eval" / "metrics.json").write_text(json.dumps({"task_tests": {"67a3c6ac": 1, "6150a2bd": 1}}))
    res = subprocess.run(
        [str(Path(sys.executable).parent / "arcctl"), "submission", "build", str(run)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines()[-1].startswith("submission build: 2 tasks, ")
    assert "wrote" in res.stdout and (run / "submission.json").is_file()
