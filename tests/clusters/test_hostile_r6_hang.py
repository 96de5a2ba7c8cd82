"""A host that takes the login and then stops answering (round 6): a hung login node, a proxy
that stalls. paramiko's exec_command and its SFTP start (the subsystem request, the server's
version) wait for the answer without a timeout, so `arcctl ls` (squeue over ssh), `tail` and the
dashboard's refresh waited forever, whatever timeout the command had. The server here is
paramiko's, behind a real TCP listener and handshake with the client's strict host-key check,
and it blocks at the step under test until the test ends.
"""

from __future__ import annotations

import threading
import time

import pytest

from jobs.backends.slurm import SlurmBackend
from jobs.errors import JobsError, RemoteError
from jobs.scheduler_shell import SSHShell
from jobs.sftp_runfs import SFTPFS
from jobs.ssh_transport import SSHPool
from tests.clusters.cli_lines import one_line
from tests.clusters.conftest import cli
from tests.clusters.paramiko_server import AcceptAll, serving

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]


class _Stuck(AcceptAll):
    """Answers the login; then the request named in STUCK waits until RELEASE is set."""

    def __init__(self, stuck: str, release: threading.Event):
        self.stuck, self.release = stuck, release

    def check_channel_exec_request(self, channel, command):
        self.release.wait()
        return False

    def check_channel_subsystem_request(self, channel, name):
        if self.stuck == "subsystem":
            self.release.wait()
            return False
        # "version": the subsystem starts and never says a word
        threading.Thread(target=self.release.wait, daemon=True).start()
        return True


@pytest.fixture(params=["subsystem", "version"])
def stuck_host(request, sshd, tmp_path):
    """An ssh config whose host `stuck` (ConnectTimeout 2) hangs at REQUEST.param."""
    release = threading.Event()
    with serving(sshd, tmp_path, "stuck", lambda: _Stuck(request.param, release), extra="  ConnectTimeout 2\n") as cfg:
        try:
            yield cfg
        finally:
            release.set()  # before the server's connections close


def test_a_command_on_a_host_that_stops_answering_ends_at_its_timeout(stuck_host):
    pool = SSHPool(stuck_host)
    t0 = time.monotonic()
    rc, out, err = pool.exec("stuck", "squeue -h", timeout=60)
    assert rc == 124 and out == "" and time.monotonic() - t0 < 20  # waited forever
    assert err == "stuck took the login, then gave no answer to the exec request within 2 s", err
    # a status pass over it: one line naming the host, as for any command that timed out
    b = SlurmBackend({}, host="stuck", shell=SSHShell("stuck", pool))
    with pytest.raises(JobsError) as e:
        b.status(["12"])
    assert "squeue failed on stuck (exit 124)" in str(e.value) and "\n" not in str(e.value)
    pool.close()


def test_sftp_on_a_host_that_stops_answering_is_one_line_naming_it(stuck_host):
    pool = SSHPool(stuck_host)
    t0 = time.monotonic()
    with pytest.raises(RemoteError) as e:
        SFTPFS("stuck", pool).size("/runs/x/metrics.jsonl")
    assert time.monotonic() - t0 < 20  # waited forever
    msg = str(e.value)
    assert msg.startswith("cannot open SFTP on stuck: the host took the login, then gave no answer to the ")
    assert "\n" not in msg
    pool.close()


def test_tail_of_a_run_on_a_host_that_stops_answering(stuck_host):
    t0 = time.monotonic()
    res = cli({"ARCCTL_SSH_CONFIG": str(stuck_host)}, "tail", "stuck:/runs/x", check=False, timeout=90)
    one_line(res, "stuck", "no answer")
    assert time.monotonic() - t0 < 60
