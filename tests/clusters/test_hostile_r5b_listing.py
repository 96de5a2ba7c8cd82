"""Remote folder listings with file names a user (or a hostile job) can create (round 5b), over
SFTP and the system ssh against the real loopback sshd: a name with a newline (`ls -1A` split it
into two names, so `checkpoint-1\\ncheckpoint-2` read as two checkpoints), names that are not
UTF-8 (paramiko's listing failed the whole folder; the system ssh gave names with replacement
characters that named no file), a file listed as a folder. The loopback host's files are this
machine's: every listing is compared with os.listdir."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from jobs.rundir import list_checkpoints
from jobs.sftp_runfs import SFTPFS
from jobs.ssh_transport import SSHPool

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]

ODD = [
    b"a\nb",
    b"checkpoint-3\ncheckpoint-4",
    b"\xff\xfelatin1",
    b"-n",
    b" lead",
    b"back\\slash",
    b"tab\tx",
    b"e\xcc\x81",
]


@pytest.fixture(params=["paramiko", "openssh"])
def pool(request, sshd, tmp_path):
    control = Path(tempfile.mkdtemp(prefix="cml", dir="/tmp"))  # a socket path must stay short
    extra = f"  ControlMaster auto\n  ControlPath {control}/%C\n  ControlPersist 5\n"
    cfg = sshd.ssh_config(tmp_path / "ssh_config", alias="h", extra=extra if request.param == "openssh" else "")
    p = SSHPool(cfg)
    assert p.transport("h") == request.param
    yield p
    p.close()
    subprocess.run(["ssh", "-F", str(cfg), "-O", "exit", "h"], capture_output=True, timeout=30)
    shutil.rmtree(control, ignore_errors=True)


def _odd_folder(where: Path) -> Path:
    where.mkdir(parents=True)
    for i, raw in enumerate(ODD):
        (where / os.fsdecode(raw)).write_bytes(b"%d" % i)
    return where


def test_listing_gives_every_name_as_os_listdir_does(pool, tmp_path):
    d = _odd_folder(tmp_path / "odd")
    fs = SFTPFS("h", pool)
    assert sorted(fs.listdir(str(d))) == sorted(os.listdir(d))
    # each listed name opens the file it names
    for name in fs.listdir(str(d)):
        assert fs.open_binary(f"{d}/{name}").read(100) == (d / name).read_bytes(), name
    empty = tmp_path / "empty"
    empty.mkdir()
    assert fs.listdir(str(empty)) == []
    os.symlink(d, tmp_path / "link")  # a folder behind a link is listed as the folder
    assert sorted(fs.listdir(str(tmp_path / "link"))) == sorted(os.listdir(d))


def test_a_file_is_not_listed_as_a_folder(pool, tmp_path):
    f = tmp_path / "plain.txt"
    f.write_text("x")
    fs = SFTPFS("h", pool)
    with pytest.raises(OSError):  # `ls -1A FILE` printed FILE: a folder holding itself
        fs.listdir(str(f))
    with pytest.raises(FileNotFoundError):
        fs.listdir(str(tmp_path / "nope"))


def test_a_newline_name_is_no_checkpoint_and_a_latin1_name_costs_nothing(pool, tmp_path):
    run = tmp_path / "run"
    for name in ("checkpoint-5", "checkpoint-1\ncheckpoint-2"):
        (run / name).mkdir(parents=True)
        (run / name / "trainer_state.json").write_text("{}")
        (run / name / "adapter_model.safetensors").write_bytes(b"w")
    (run / os.fsdecode(b"notes-\xe9t\xe9.txt")).write_text("mine")
    got = list_checkpoints(str(run), SFTPFS("h", pool))
    assert [(c.name, c.step, c.valid) for c in got] == [("checkpoint-5", 5, True)], got


def test_fetch_copies_odd_names_whole(pool, tmp_path):
    ck = _odd_folder(tmp_path / "run" / "checkpoint-9")
    dest = tmp_path / "here" / "checkpoint-9"
    assert pool.download_dir("h", str(ck), dest) == sum(len(b"%d" % i) for i in range(len(ODD)))
    assert sorted(os.listdir(dest)) == sorted(os.listdir(ck))
    for name in os.listdir(ck):
        assert (dest / name).read_bytes() == (ck / name).read_bytes()


def test_a_checkpoint_that_is_a_link_is_copied_as_its_folder(pool, tmp_path):
    """Through the system ssh `tar -C RUN checkpoint-3` archived the link alone: an empty folder,
    reported as a copy of 0 bytes."""
    real = _odd_folder(tmp_path / "run" / "real")
    os.symlink("real", tmp_path / "run" / "checkpoint-3")
    dest = tmp_path / "here" / "checkpoint-3"
    assert pool.download_dir("h", str(tmp_path / "run" / "checkpoint-3"), dest) > 0
    assert sorted(os.listdir(dest)) == sorted(os.listdir(real)) and not dest.is_symlink()
