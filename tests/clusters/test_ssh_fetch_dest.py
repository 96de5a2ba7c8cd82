"""`download_dir` (behind `arcctl fetch HOST:...`) against the real loopback sshd, over paramiko and
over the system ssh: a folder of the user's next to the destination, even one named like a
partial copy, is never removed or written into."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from jobs.errors import RemoteError
from jobs.ssh_transport import SSHPool

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]


@pytest.fixture(params=["paramiko", "openssh"])
def host(request, sshd, tmp_path):
    """A host alias on the loopback sshd reached through the named transport."""
    control = Path(tempfile.mkdtemp(prefix="cm", dir="/tmp"))  # a socket path must stay short
    extra = f"  ControlMaster auto\n  ControlPath {control}/%C\n  ControlPersist 5\n"
    cfg = sshd.ssh_config(tmp_path / "ssh_config", alias="h", extra=extra if request.param == "openssh" else "")
    pool = SSHPool(cfg)
    assert pool.transport("h") == request.param
    yield pool
    pool.close()
    subprocess.run(["ssh", "-F", str(cfg), "-O", "exit", "h"], capture_output=True, timeout=30)
    shutil.rmtree(control, ignore_errors=True)


def test_a_users_partial_named_folder_survives_a_fetch(host, tmp_path):
    remote = tmp_path / "run" / "checkpoint-2"
    remote.mkdir(parents=True)
    (remote / "model.bin").write_bytes(b"w" * 300)
    dest = tmp_path / "here" / "checkpoint-2"
    mine = dest.with_name(dest.name + ".partial")  # the name the old copier cleared first
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")

    assert host.download_dir("h", str(remote), dest) == 300
    assert (dest / "model.bin").read_bytes() == b"w" * 300
    assert (mine / "notes.txt").read_text() == "mine" and sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    # nothing of the copier's is left behind
    assert sorted(p.name for p in dest.parent.iterdir()) == ["checkpoint-2", "checkpoint-2.partial"]


def test_a_failed_fetch_leaves_no_temp_folder_and_says_where(host, tmp_path):
    remote = tmp_path / "run" / "checkpoint-3"
    remote.mkdir(parents=True)
    (remote / "model.bin").write_bytes(b"x")
    blocker = tmp_path / "a-file"
    blocker.write_text("user data")
    with pytest.raises(RemoteError, match=rf"^{blocker}/ck: cannot put the copy there \({blocker} is a file\)$"):
        host.download_dir("h", str(remote), blocker / "ck")
    assert blocker.read_text() == "user data"

    with pytest.raises(RemoteError, match="does not exist on h"):
        host.download_dir("h", str(tmp_path / "run" / "nope"), tmp_path / "out" / "ck")
    dest = tmp_path / "out2" / "ck"
    dest.parent.mkdir()
    dest.mkdir()
    with pytest.raises(RemoteError, match=f"destination {dest} already exists"):
        host.download_dir("h", str(remote), dest)
    assert list(dest.iterdir()) == []
