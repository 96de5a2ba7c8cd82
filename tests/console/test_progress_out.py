"""Long CLI work reports progress: plain lines when stderr is piped (checked through the real
`arcctl fetch` over the loopback sshd), a rich bar on a terminal (checked in tmux)."""
from __future__ import annotations

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
    assert [x.split(", ")[0] for x in lines] == ["fetch checkpoint-2: 1.0 MB of 3.0 MB (33%)",
                                                 "fetch checkpoint-2: 3.0 MB of 3.0 MB (100%)",
                                                 "fetch checkpoint-2: 3.0 MB of 3.0 MB (100%)"]
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


@pytest.fixture(scope="module")
def sshd():
    from tests.clusters import daemons

    if not os.path.exists(daemons.SSHD_BINARY) or os.geteuid() != 0:
        pytest.skip("needs the loopback sshd (root, openssh-server)")
    server = daemons.ensure_sshd("/tmp/arcctl-test-sshd-console")
    yield server
    server.stop()


@pytest.mark.sshd
def test_fetch_over_sftp_reports_bytes_when_piped(home, tmp_path, sshd):
    run = make_run(tmp_path)
    env = {"ARCCTL_SSH_CONFIG": str(sshd.ssh_config(tmp_path / "ssh_config"))}
    dest = tmp_path / "got"
    res = subprocess.run([str(Path(sys.executable).parent / "arcctl"), "fetch", f"testhost:{run}", "2", str(dest)],
                         capture_output=True, text=True, env={**os.environ, **env}, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("fetch checkpoint-2: 3.0 MB")
    assert (dest / "adapter_model.safetensors").read_bytes() == (run / "checkpoint-2" / "adapter_model.safetensors").read_bytes()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_a_bar_on_a_terminal(home, tmp_path):
    run = make_run(tmp_path)
    name = f"arcctl-progress-{uuid.uuid4().hex[:8]}"
    cmd = (f"env ARCCTL_HOME={home} {Path(sys.executable).parent / 'arcctl'} fetch {run} 2 {tmp_path / 'got'}; "
           f"sleep 30")
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "10", cmd], check=True,
                   env={**os.environ, "TERM": "xterm-256color"})
    try:
        for _ in range(200):
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout
            if "->" in screen:
                break
            time.sleep(0.1)
        assert "fetch checkpoint-2" in screen and "━" in screen and "3.0 MB" in screen, screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
