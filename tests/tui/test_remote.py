"""Remote runs: the same RunView and run screen over SFTP (a real OpenSSH server on loopback)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from jobs.completions import CompletionFilter
from jobs.runview import RunView

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def sshd():
    from tests.console.conftest import loopback_sshd

    yield from loopback_sshd("/tmp/arcctl-test-sshd-tui")  # our own, not the cluster tests' one


@pytest.fixture
def remote(sshd, tmp_path, monkeypatch):
    monkeypatch.setenv("ARCCTL_SSH_CONFIG", str(sshd.ssh_config(tmp_path / "ssh_config")))
    return "testhost"


def test_runview_reads_the_same_over_sftp(remote, runs):
    from jobs.ssh_transport import SFTPFS

    run = str(runs / "collapsing")
    local, far = RunView(run), RunView(run, SFTPFS(remote))
    assert local.refresh() == far.refresh()
    assert list(far.metrics.steps) == list(local.metrics.steps)
    assert far.metrics.series("reward", 20) == local.metrics.series("reward", 20)
    flt = CompletionFilter(truncated_only=True)
    assert [c.id for c in far.completions.page(flt, 0, 10)[0]] == [c.id for c in local.completions.page(flt, 0, 10)[0]]
    assert [(c.name, c.valid, c.metrics) for c in far.checkpoints()] == [(c.name, c.valid, c.metrics) for c in local.checkpoints()]
    assert [a.rule for a in far.alerts()] == [a.rule for a in local.alerts()]
    with open(Path(run) / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 71, "reward": 0.5}) + "\n")
    assert far.refresh() >= {"metrics"} and far.metrics.last_step() == 71


async def test_run_screen_over_sftp(remote, runs):
    from arcctl.tui.screens.run import RunScreen
    from arcctl.tui.widgets.charts import MetricChart

    src = JobSource(None)
    app = ArcApp(source=src)
    async with app.run_test(size=(150, 48)) as pilot:
        app.push_screen(RunScreen(src.view(str(runs / "healthy"), host=remote)))
        for _ in range(100):
            charts = list(app.screen.query(MetricChart)) if isinstance(app.screen, RunScreen) else []
            if charts and all(c.points for c in charts):
                break
            await pilot.pause(0.05)
        scr = app.screen
        assert type(scr.view.fs.inner).__name__ == "SFTPFS"
        assert scr.view.metrics.last_step() == 50 and all(c.points for c in scr.query(MetricChart))


@pytest.mark.skipif(__import__("shutil").which("tmux") is None, reason="needs tmux")
def test_open_host_path_with_the_real_binary(sshd, remote, runs, arc_home, tmp_path):
    """`arcctl open testhost:/path` (the README's remote form) parses the host, reads the run over
    SFTP and shows its run screen; an unknown path on that host is one error line, exit 2. The host
    is loopback, so the path is readable locally too: the sshd log proves the binary logged in."""
    import subprocess
    import sys

    from tests.tui.test_tmux_e2e import keys, start, wait_for

    ssh_config = os.environ["ARCCTL_SSH_CONFIG"]
    log = sshd.root / "sshd.log"
    logins = log.read_text().count("Accepted publickey")
    s = start(arc_home, f"open testhost:{runs / 'healthy'}", env=f"ARCCTL_SSH_CONFIG={ssh_config}")
    try:
        wait_for(s, "step 50  0.1 st/s  ETA -  rows 50", timeout=30)
        assert log.read_text().count("Accepted publickey") > logins
        keys(s, "q")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", s], capture_output=True)
    env = {**os.environ, "ARCCTL_HOME": str(arc_home)}
    bad = subprocess.run([sys.executable, "-m", "arcctl.cli.main", "open", f"testhost:{tmp_path}/nope"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "testhost" in bad.stderr
