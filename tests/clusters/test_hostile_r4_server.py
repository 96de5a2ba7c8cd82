"""A hostile server side (round 4): a real sshd on loopback of this module's own, whose PATH
starts with a folder of scheduler programs that print what a broken or hostile host would print
(endless output, bytes that are not UTF-8, terminal escapes, extra `|` fields, job ids that are
not numbers or are huge). The same programs run through this machine's shell and the system ssh.

What must hold: output has a ceiling (a command that prints without end is stopped), every
failure is one line naming the host and the command, a status pass keeps the status of the jobs
it can read, no escape sequence reaches the status text, and crash recovery's `find` says
"cannot tell" instead of raising.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from jobs import scheduler_shell, ssh_transport
from jobs.backends.base import JobState
from jobs.backends.htcondor import HTCondorBackend
from jobs.backends.slurm import SlurmBackend
from jobs.errors import JobsError
from jobs.scheduler_shell import LocalShell, SSHShell
from jobs.ssh_transport import SSHPool
from tests.clusters import daemons
from tests.clusters.conftest import make_spec

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]

HUGE = "9" * 40
# squeue -O JobID:|,State:|,exit_code:|,RestartCnt:|,Reason:| as a hostile host prints it
STATUS_LINES = (
    b"\xff\xfe\xc3(not utf-8 at all\n"
    b"1|PENDING|0|0|\x1b]0;owned\x07\x1b[2JPriority\xff|\n"
    b"2|RUNNING|0|0|None|extra|fields|\n"
    b"4|   |0|0|None|\n"
    b"abc|RUNNING|0|0|None|\n"
    b"\x1b[31m3|RUNNING|0|0|None|\n" + HUGE.encode() + b"|COMPLETED|0|0|None|\n"
)
# squeue --name=... -O JobID:|,SubmitTime:|,WorkDir:|
FIND_LINES = b"x7|2099-01-01T00:00:00|RUNDIR|\n12_3|2099-01-01T00:00:00|RUNDIR|\n12|2099-01-01T00:00:00|RUNDIR|\n"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """(sshd, bin dir on its PATH): an sshd of this module's own (the shared one's PATH is not ours
    to change), started and stopped here."""
    if os.geteuid() != 0 or not os.path.exists(daemons.SSHD_BINARY):
        pytest.skip("a loopback sshd needs root and /usr/sbin/sshd")
    root = tmp_path_factory.mktemp("hostile-sshd")
    bindir = root / "bin"
    bindir.mkdir()
    server = daemons.ensure_sshd(root, setenv={"PATH": f"{bindir}:/usr/bin:/bin"})
    yield server, bindir
    server.stop()


def _tool(bindir: Path, name: str, body: str) -> None:
    tool = bindir / name
    tool.write_text("#!/bin/sh\n" + body)
    tool.chmod(0o755)


@pytest.fixture(params=["paramiko", "openssh", "local"])
def shell(request, hostile, tmp_path, monkeypatch):
    """A Shell that runs the hostile programs: over paramiko, over the system ssh (a
    ControlMaster host), or on this machine with the bin dir first on PATH."""
    server, bindir = hostile
    if request.param == "local":
        monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
        yield LocalShell()
        return
    control = Path(tempfile.mkdtemp(prefix="cm", dir="/tmp"))  # a socket path must stay short
    extra = f"  ControlMaster auto\n  ControlPath {control}/%C\n  ControlPersist 5\n"
    cfg = server.ssh_config(tmp_path / "ssh_config", alias="h", extra=extra if request.param == "openssh" else "")
    pool = SSHPool(cfg)
    assert pool.transport("h") == request.param
    yield SSHShell("h", pool)
    pool.close()
    subprocess.run(["ssh", "-F", str(cfg), "-O", "exit", "h"], capture_output=True, timeout=30)
    shutil.rmtree(control, ignore_errors=True)


def test_hostile_squeue_output_costs_only_its_own_lines(shell, hostile, tmp_path):
    _, bindir = hostile
    (bindir / "status.out").write_bytes(STATUS_LINES)
    run = tmp_path / "run"
    (bindir / "find.out").write_bytes(FIND_LINES.replace(b"RUNDIR", str(run).encode()))
    _tool(bindir, "squeue", f'case "$*" in *--name=*) cat {bindir}/find.out ;; *) cat {bindir}/status.out ;; esac\n')
    _tool(bindir, "sacct", "exit 0\n")  # knows nothing more
    b = SlurmBackend({}, host=None if isinstance(shell, LocalShell) else "h", shell=shell)
    got = b.status(["1", "2", "3", "4", HUGE])
    assert got["1"].state is JobState.QUEUED and got["2"].state is JobState.RUNNING
    assert got["4"].state is JobState.UNKNOWN  # a state of blanks was an IndexError for every job
    assert got[HUGE].state is JobState.COMPLETED
    assert got["3"].state is JobState.UNKNOWN  # its line began with an escape: not job 3's line
    # a Latin-1 byte was a UnicodeDecodeError out of the local and the system-ssh shells; an
    # escape sequence in the reason reached `arcctl ls` and the dashboard as it was
    for st in got.values():
        text = f"{st.reason} {st.detail} {st.extra}"
        assert "\x1b" not in text and "\x07" not in text, text
    assert "\\x1b]0;owned\\x07" in got["1"].detail
    # crash recovery: `x7` and the array task `12_3` are not job ids (the first was a ValueError)
    assert b.find(make_spec(run, name="job")) == "12"
    only_bad = b"".join(FIND_LINES.splitlines(keepends=True)[:2])
    (bindir / "find.out").write_bytes(only_bad.replace(b"RUNDIR", str(run).encode()))
    assert b.find(make_spec(run, name="job")) is None


def test_a_squeue_that_prints_forever_is_one_line_naming_host_and_command(shell, hostile, monkeypatch):
    """It took the command's whole timeout (120 s) with its output piling up in memory (the local
    shell and the system ssh: gigabytes a second)."""
    _, bindir = hostile
    for module in (ssh_transport, scheduler_shell):
        monkeypatch.setattr(module, "MAX_OUTPUT", 16 * 2**20, raising=False)
    _tool(bindir, "squeue", "exec yes '1|RUNNING|None|0|0|'\n")
    b = SlurmBackend({}, host=None if isinstance(shell, LocalShell) else "h", shell=shell)
    t0 = time.monotonic()
    with pytest.raises(JobsError) as e:
        b.status(["1"])
    msg = str(e.value)
    where = "localhost" if isinstance(shell, LocalShell) else "h"
    assert "squeue" in msg and f"on {where} printed more than 16 MB; stopped it" in msg, msg
    assert "\n" not in msg and time.monotonic() - t0 < 60


def test_condor_q_ids_that_are_not_numbers_and_escapes_in_hold_reasons(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    ads = (
        '[{"ClusterId": "7x", "ProcId": 0, "QDate": 4e9}, {"ClusterId": 5, "ProcId": "1; rm", "QDate": 4e9},'
        ' {"ClusterId": 4, "ProcId": 0, "QDate": 4e9, "JobStatus": 5, "HoldReasonCode": 1,'
        ' "HoldReason": "\\u001b]52;c;Y3VybCBldmlsIHwgc2g=\\u0007held by admin\\u001b[2J"}]'
    )
    # each of the spec's run dir, as condor_q's -constraint picks them (find checks it, round 6c)
    ads = ads.replace('"QDate": 4e9', f'"QDate": 4e9, "ArcctlRunDir": "{tmp_path / "run"}"')
    (tmp_path / "ads.json").write_text(ads)
    _tool(bindir, "condor_q", f"cat {tmp_path / 'ads.json'}\n")
    b = HTCondorBackend({"bin_dir": str(bindir)}, shell=LocalShell())
    # `7x` and a ProcId of `1; rm` were a ValueError out of crash recovery (`arcctl ls`)
    assert b.find(make_spec(tmp_path / "run", backend="htcondor")) == "4.0"
    st = b.status(["4.0"])["4.0"]
    assert st.state is JobState.HELD and "held by admin" in st.detail
    assert "\x1b" not in st.detail + str(st.extra) and "\x07" not in st.detail, st


def test_an_sftp_server_that_stops_answering_costs_a_timeout_not_a_hang(hostile, tmp_path):
    """The sshd process serving our connection is stopped (SIGSTOP): an SFTP answer never comes.
    The read waited forever (`arcctl tail`, the dashboard's refresh, `fetch`); now it gives up
    after the pool's sftp_timeout and the retry on a fresh connection answers."""
    import signal

    from jobs.rundir import JsonlTail
    from jobs.sftp_runfs import SFTPFS

    server, _ = hostile
    pool = SSHPool(server.ssh_config(tmp_path / "ssh_config", alias="h"), sftp_timeout=3)
    fs = SFTPFS("h", pool)
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"step": 1}\n')
    tail = JsonlTail(str(metrics), fs)
    assert [r["step"] for r in tail.read_new()] == [1]
    session = int(pool.exec("h", "echo $PPID")[1])
    assert "sshd" in Path(f"/proc/{session}/cmdline").read_text()
    os.kill(session, signal.SIGSTOP)
    try:
        with open(metrics, "a") as f:
            f.write('{"step": 2}\n')
        t0 = time.monotonic()
        assert [r["step"] for r in tail.read_new()] == [2]
        assert 3 <= time.monotonic() - t0 < 60 and pool.connects == 2
        assert fs.size(str(metrics)) == metrics.stat().st_size
    finally:
        os.kill(session, signal.SIGKILL)
        pool.close()


@pytest.mark.parametrize("log", ["fifo", "/dev/zero"])
def test_a_job_ad_whose_event_log_is_a_pipe_or_a_device_keeps_its_status(tmp_path, log):
    """The status pass reads the event log the ad names (UserLog) for a held or evicted job: a
    named pipe there blocked `arcctl ls` on its open, /dev/zero kept it reading."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    if log == "fifo":
        log = str(tmp_path / "condor.log")
        os.mkfifo(log)
    ads = f'[{{"ClusterId": 4, "ProcId": 0, "JobStatus": 5, "HoldReasonCode": 34, "HoldReason": "memory", "UserLog": "{log}"}},'
    ads += f' {{"ClusterId": 5, "ProcId": 0, "JobStatus": 1, "NumJobStarts": 2, "UserLog": "{log}"}}]'
    (tmp_path / "ads.json").write_text(ads)
    _tool(bindir, "condor_q", f"cat {tmp_path / 'ads.json'}\n")
    t0 = time.monotonic()
    got = HTCondorBackend({"bin_dir": str(bindir)}, shell=LocalShell()).status(["4.0", "5.0"])
    assert got["4.0"].state is JobState.HELD and got["4.0"].reason == "memory_exceeded"
    assert got["5.0"].state is JobState.EVICTED and time.monotonic() - t0 < 30
