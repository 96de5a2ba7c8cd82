"""Remote runs: the same RunView and run screen over SFTP (a real OpenSSH server on loopback)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from jobs.completions import CompletionFilter
from jobs.runview import RunView
from tests.tui.pilot import until

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
    assert [(c.name, c.valid, c.metrics) for c in far.checkpoints()] == [
        (c.name, c.valid, c.metrics) for c in local.checkpoints()
    ]
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

        def charted() -> bool:
            charts = list(app.screen.query(MetricChart)) if isinstance(app.screen, RunScreen) else []
            return bool(charts) and all(c.points for c in charts)

        await until(pilot, charted)
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
    bad = subprocess.run(
        [sys.executable, "-m", "arcctl.cli.main", "open", f"testhost:{tmp_path}/nope"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "testhost" in bad.stderr


# -- opening a long remote run: newest rows first, history behind, no read waits for another ------

STEPS = 40_000  # metrics.jsonl ~4 MB: the first refresh must read only its last FIRST_METRICS_BYTES


def _long_run(runs: Path) -> Path:
    run = runs / "healthy"
    with open(run / "metrics.jsonl", "w") as f:
        for s in range(1, STEPS + 1):
            f.write(json.dumps({"step": s, "reward": (s % 97) / 97, "kl": s * 1e-5, "entropy": 1.0}) + "\n")
    return run


def _same_history(a, b) -> bool:
    return list(a.steps) == list(b.steps) and all(
        json.dumps(list(a.columns[k])) == json.dumps(list(b.columns.get(k, []))) for k in a.columns
    )


def test_first_refresh_reads_only_the_newest_metrics_then_the_history(remote, runs):
    """Over SFTP the first refresh gets the newest rows only (a 4 MB metrics.jsonl is not read
    whole before the first chart); load_history() then puts every older row in front, in chunks,
    and the result is exactly what a full local read gives."""
    from jobs.runview import FIRST_METRICS_BYTES, HISTORY_CHUNK
    from jobs.ssh_transport import SFTPFS

    run = str(_long_run(runs))
    far = RunView(run, SFTPFS(remote))
    assert "metrics" in far.refresh(history=False)
    n = len(far.metrics)
    sizes = [len(line) + 1 for line in Path(run, "metrics.jsonl").read_bytes().splitlines()]
    assert n * min(sizes) <= FIRST_METRICS_BYTES < (n + 1) * max(sizes)  # the whole tail, nothing before
    assert far.metrics.last_step() == STEPS and list(far.metrics.steps) == list(range(STEPS - n + 1, STEPS + 1))
    assert far.history_progress == 0.0
    with open(Path(run) / "metrics.jsonl", "a") as f:  # rows that arrive meanwhile are kept too
        f.write(json.dumps({"step": STEPS + 1, "reward": 0.5}) + "\n")
    assert far.refresh(history=False) >= {"metrics"}
    seen = []
    assert far.load_history(on_chunk=lambda done, total: seen.append((done, total)))
    assert len(seen) >= (Path(run, "metrics.jsonl").stat().st_size - FIRST_METRICS_BYTES) // HISTORY_CHUNK
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][0] == seen[-1][1]
    assert far.history_progress is None and not far.load_history()  # once
    local = RunView(run)
    local.refresh()  # history=True: one call reads it all
    assert local.history_progress is None and len(local.metrics) == STEPS + 1
    assert _same_history(far.metrics, local.metrics)


def test_a_long_read_does_not_hold_up_small_ones(remote, runs):
    """Each thread reads on its own SFTP session: a 32 MB read in one worker does not make the
    spec read of another wait (one shared, locked session made it wait for the whole read)."""
    import time

    from jobs.ssh_transport import SFTPFS

    run = runs / "healthy"
    blob = os.urandom(32 * 1024 * 1024)
    (run / "completions.jsonl").write_bytes(blob)
    view = RunView(str(run), SFTPFS(remote))
    assert view.fs.read_text(f"{run}/spec.json")  # connected
    done: dict[str, float] = {}
    reading = threading.Event()

    def big() -> None:
        with view.fs.open_binary(f"{run}/completions.jsonl") as f:
            f.seek(5)
            reading.set()
            got = f.read()  # one call: ~0.5 s on loopback
        done["big"] = time.monotonic()
        done["ok"] = got == blob[5:]

    t = threading.Thread(target=big)
    t.start()
    assert reading.wait(30)
    time.sleep(0.05)  # well inside the long read
    spec = json.loads(view.fs.read_text(f"{run}/spec.json"))
    done["small"] = time.monotonic()
    t.join(60)
    assert spec["run_dir"] == str(run) and done["ok"]
    assert done["small"] < done["big"], "the small read waited for the long one"
    with view.fs.open_binary(f"{run}/completions.jsonl") as f:  # ranges and the end of the file
        f.seek(-10, os.SEEK_END)
        assert f.read(100) == blob[-10:] and f.read(100) == b""
        f.seek(1000)
        assert f.read(300_000) == blob[1000:301_000] and f.tell() == 301_000
        f.seek(len(blob) - 1000)  # a range past the end (a file that shrank): what is there
        assert f.read(300_000) == blob[-1000:]
    assert view.fs.read_text(f"{run}/spec.json") == (run / "spec.json").read_text()  # the session still works


def test_run_screen_opens_a_remote_run_without_touching_the_network_on_the_ui_thread(remote, runs):
    """Building the run screen reads nothing remote (the spec comes with the first refresh, in a
    worker thread); the dashboard's view of a remote run logs in from a background thread of
    its own while the screen is being built."""
    import time

    from arcctl.tui.screens.run import RunScreen
    from jobs.ssh_transport import SFTPFS, SSHPool

    pool = SSHPool()
    view = RunView(str(runs / "healthy"), SFTPFS(remote, pool))
    RunScreen(view)
    assert pool.connects == 0 and not view.spec_read
    made = []
    src = JobSource(None, fs_for=lambda host: made.append(threading.current_thread()) or SFTPFS(host, pool))
    view = src.view(str(runs / "healthy"), host=remote)
    RunScreen(view)
    assert not view.spec_read
    for _ in range(600):  # a loaded machine's login: 30 s bounds a hang
        if pool.connects:
            break
        time.sleep(0.05)
    assert pool.connects == 1 and made and made[0] is not threading.main_thread()


async def test_first_completions_page_comes_before_the_history(remote, runs):
    """`open host:/path` then `c` at once: the first page is on screen while the history is
    still to be read (it waits while another screen covers the run screen); back on the run
    screen the history is filled in and the chart holds every step."""
    from textual.widgets import DataTable, Static

    from arcctl.tui.screens.completions import CompletionsScreen
    from arcctl.tui.screens.run import RunScreen

    run = str(_long_run(runs))
    src = JobSource(None)
    app = ArcApp(source=src)
    async with app.run_test(size=(150, 48)) as pilot:
        scr = RunScreen(src.view(run, host=remote))
        app.push_screen(scr)
        await pilot.pause(0)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CompletionsScreen) and app.screen.items, step=0.025)
        page = app.screen
        assert isinstance(page, CompletionsScreen) and page.query_one(DataTable).row_count == len(page.items) > 0
        assert scr.view.history_progress is not None and len(scr.view.metrics) < STEPS
        await pilot.pause(0.5)
        assert scr.view.history_progress is not None  # still waiting behind the page
        await pilot.press("escape")
        await until(pilot, lambda: len(scr.view.metrics) == STEPS)
        assert scr.view.history_progress is None and len(scr.view.metrics) == STEPS
        assert scr.view.metrics.steps[0] == 1
        status = lambda: str(scr.query_one("#run-status", Static).render())
        await until(pilot, lambda: f"rows {STEPS} " in status())
        assert f"rows {STEPS} " in status() and "history" not in status()


# -- what opening a remote run waits for -------------------------------------------------------


def test_the_ssh_socket_sends_small_packets_at_once(remote):
    """TCP_NODELAY on the connection: with Nagle's algorithm on, each small SSH message waited
    for the previous one's ACK (~40 ms with the peer's delayed ACK): logins and one-request-at-
    a-time reads were several times slower on loopback."""
    import socket

    from jobs.ssh_transport import SSHPool

    pool = SSHPool()
    try:
        sock = pool.client(remote).get_transport().sock
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        pool.close()


def test_open_logs_in_while_the_dashboard_is_imported(remote, runs, monkeypatch):
    """`arcctl open host:/path` resolves the run (paramiko, login, the path checked) in a thread
    started before it imports the dashboard: the caller goes on at once, then gets the target
    (or the error) when it waits."""
    from arcctl.cli import open_cmd
    from arcctl.cli.errors import UserError

    go, threads = threading.Event(), []
    real = open_cmd.resolve_run

    def held(run, **kw):  # the real resolve, once the test lets it go
        threads.append(threading.current_thread())
        assert go.wait(30)
        return real(run, **kw)

    monkeypatch.setattr(open_cmd, "resolve_run", held)
    pending = open_cmd.resolve_in_background(f"{remote}:{runs / 'healthy'}")
    for _ in range(3000):  # 30 s bounds a hang; the thread starts at once
        if threads:
            break
        threading.Event().wait(0.01)
    assert threads and threads[0] is not threading.main_thread() and not go.is_set()
    go.set()  # the caller got here while the resolve was still held
    target = pending()
    assert (target.run_dir, target.host) == (str(runs / "healthy"), remote)
    assert target.fs.exists(f"{runs / 'healthy'}/spec.json")
    bad = open_cmd.resolve_in_background(f"{remote}:{runs}/nope")
    with pytest.raises(UserError, match=f"{remote}:{runs}/nope: no such run dir on {remote}"):
        bad()


async def test_the_completions_page_of_a_remote_run_reads_nothing_on_the_ui_thread(remote, runs):
    """The page's status line (how much is indexed) needs the file's size: its worker reads it;
    read in `show`, on the UI thread, it froze the screen for an SFTP round trip."""
    from arcctl.tui.screens.completions import CompletionsScreen
    from jobs.rundir import DeferredFS

    on_ui: list[str] = []

    class Watched(DeferredFS):
        def __getattribute__(self, name):
            if name in ("open_binary", "size", "exists", "listdir", "read_text"):
                if threading.current_thread() is threading.main_thread():
                    on_ui.append(name)
            return super().__getattribute__(name)

    from jobs.rundir import fs_for_host

    view = RunView(str(runs / "collapsing"), Watched(lambda: fs_for_host(remote), remote))
    app = ArcApp(source=JobSource(None))
    async with app.run_test(size=(150, 48)) as pilot:
        page = CompletionsScreen(view)
        app.push_screen(page)
        await until(pilot, lambda: page.items and "indexing" not in str(page.query_one("#comp-status").render()))
        assert page.items and "lines indexed" in str(page.query_one("#comp-status").render())
        await pilot.press("down")
        await pilot.pause(0.5)  # the next row's detail and its grids
    assert on_ui == []
