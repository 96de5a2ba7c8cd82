"""Run-dir files read through commands (the system ssh, or a paramiko host whose login prints)
that go away or come back wrong (round 6c), on the real loopback sshd.

Before: a file removed after its size was asked (a run dir deleted while `arcctl logs -f` reads
it) read as b"" through commands, an end of file, where SFTP says it is gone (`tail FILE | head`
exits as head does); a `stat` that printed a size of 5000 digits was a ValueError traceback.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from jobs.errors import RemoteError
from jobs.sftp_runfs import SFTPFS
from jobs.ssh_transport import SSHPool
from tests.clusters.test_hostile_r6_login import banner_sshd, pool  # noqa: F401 (fixtures)
from tests.clusters.test_hostile_r6c_scheduler import host, tools  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]


def test_a_log_removed_while_it_is_read_is_gone_not_empty(pool, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    run.mkdir()
    log = run / "stdout.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(1000)))
    fs = SFTPFS("h", pool)
    assert fs.exists(str(log))  # over paramiko: SFTP fails here, commands from now on
    assert fs.size(str(log)) == log.stat().st_size
    f = fs.open_binary(str(log))
    f.seek(7)
    assert f.read(7) == b"line 1\n"
    shutil.rmtree(run)  # the run dir deleted between two reads of a follower
    f.seek(7000)
    with pytest.raises(FileNotFoundError):  # was b"": the follower took it for "no new lines"
        f.read(100)
    assert fs.exists(str(log)) is False
    with pytest.raises(FileNotFoundError):
        fs.size(str(log))
    # the run made again (a resubmit to the same folder): read from its start
    run.mkdir()
    log.write_bytes(b"fresh\n")
    with fs.open_binary(str(log)) as g:
        assert g.read(100) == b"fresh\n"


def test_a_size_of_5000_digits_is_one_line(host, tools, tmp_path):  # noqa: F811
    server, _ = host
    _, say = tools
    control = Path(tempfile.mkdtemp(prefix="cms", dir="/tmp"))  # a socket path must stay short
    extra = f"  ControlMaster auto\n  ControlPath {control}/%C\n  ControlPersist 5\n"
    cfg = server.ssh_config(tmp_path / "ssh_config", alias="h", extra=extra)
    (tmp_path / "f").write_text("x")
    say("stat", "9" * 5000 + "\n")
    try:
        with pytest.raises(RemoteError) as e:
            SFTPFS("h", SSHPool(cfg)).size(str(tmp_path / "f"))
        assert str(e.value) == f"h: `stat` of {tmp_path / 'f'} printed {'9' * 80!r}, not a size"
    finally:
        subprocess.run(["ssh", "-F", str(cfg), "-O", "exit", "h"], capture_output=True, timeout=30)
        shutil.rmtree(control, ignore_errors=True)
