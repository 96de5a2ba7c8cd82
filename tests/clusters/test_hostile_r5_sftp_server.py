"""A hostile SFTP server (round 5): what a compromised cluster host could answer to `arcctl
fetch`. The real sshd never lists such names, so the server here is paramiko's SFTP server
behind a real TCP listener and a real SSH handshake, with the client's strict host-key check.

- a checkpoint listing a file named `../escaped` or `/abs/path`: the copy wrote it outside the
  destination (`dst / name`), anywhere this user can write; now one line naming host and name,
  nothing written anywhere.
- a file whose stat says 5 bytes but whose reads never end: paramiko's get() read until EOF (the
  disk filled, then "size mismatch"); now the announced bytes are copied and no more are asked.
"""

from __future__ import annotations

import os
import stat

import paramiko
import pytest

from jobs.errors import RemoteError
from jobs.ssh_transport import SSHPool
from tests.clusters.paramiko_server import AcceptAll, serving

pytestmark = pytest.mark.timeout(60)


class _Handle(paramiko.SFTPHandle):
    DATA = b"owned"
    ENDLESS = [0]  # > 0: a file whose stat says 5 bytes keeps answering up to this many
    read_up_to = [0]

    def read(self, offset, length):
        _Handle.read_up_to[0] = max(_Handle.read_up_to[0], offset + length)
        if offset < self.ENDLESS[0]:
            return b"x" * min(length, self.ENDLESS[0] - offset)
        return self.DATA[offset : offset + length]

    def stat(self):
        return _attrs("x", stat.S_IFREG | 0o644, len(self.DATA))


def _attrs(name: str, mode: int, size: int) -> paramiko.SFTPAttributes:
    a = paramiko.SFTPAttributes()
    a.filename, a.st_mode, a.st_size, a.st_uid, a.st_gid, a.st_atime, a.st_mtime = name, mode, size, 0, 0, 0, 0
    return a


def _sftp_interface(listed: list[str]):
    class Hostile(paramiko.SFTPServerInterface):
        """Every path is a folder listing LISTED; every file holds b"owned"."""

        def stat(self, path):
            if path.rstrip("/").endswith("checkpoint-1"):
                return _attrs("checkpoint-1", stat.S_IFDIR | 0o755, 0)
            return _attrs(os.path.basename(path), stat.S_IFREG | 0o644, len(_Handle.DATA))

        lstat = stat

        def list_folder(self, path):
            return [_attrs(n, stat.S_IFREG | 0o644, len(_Handle.DATA)) for n in listed]

        def open(self, path, flags, attr):
            return _Handle(flags)

    return Hostile


@pytest.fixture
def hostile_sftp(sshd, tmp_path):
    """(ssh config with host `evil`, the names its folders list: change in place)."""
    listed: list[str] = []
    with serving(sshd, tmp_path, "evil", AcceptAll, sftp=_sftp_interface(listed)) as cfg:
        yield cfg, listed


@pytest.mark.sshd
@pytest.mark.parametrize("name", ["../escaped", "ABS", "sub/../../escaped", "", "nul\x00"])
def test_a_listed_name_that_is_a_path_writes_nothing_outside(hostile_sftp, tmp_path, name):
    cfg, listed = hostile_sftp
    outside = tmp_path / "abs-owned"
    name = str(outside) if name == "ABS" else name
    listed[:] = ["config.json", name]
    dest = tmp_path / "fetch" / "deep" / "checkpoint-1"
    pool = SSHPool(cfg)
    with pytest.raises(RemoteError) as e:
        pool.download_dir("evil", "/runs/x/checkpoint-1", dest)
    assert f"evil:/runs/x/checkpoint-1 lists a file named {name!r}" in str(e.value)
    assert not dest.exists() and not outside.exists()
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["known_hosts_evil", "ssh_config_evil"], written
    # the same server with honest names: the copy works (the test server is not what failed)
    listed[:] = ["config.json", "adapter.safetensors"]
    assert pool.download_dir("evil", "/runs/x/checkpoint-1", dest) == 10
    assert (dest / "adapter.safetensors").read_bytes() == b"owned"
    pool.close()


@pytest.mark.sshd
def test_a_file_that_keeps_answering_past_its_size_is_copied_at_its_size(hostile_sftp, tmp_path):
    cfg, listed = hostile_sftp
    listed[:] = ["adapter.safetensors"]
    _Handle.ENDLESS[0], _Handle.read_up_to[0] = 20 * 2**20, 0
    try:
        dest = tmp_path / "checkpoint-1"
        assert SSHPool(cfg).download_dir("evil", "/runs/x/checkpoint-1", dest) == 5
        assert (dest / "adapter.safetensors").read_bytes() == b"xxxxx"
        assert _Handle.read_up_to[0] < 2**20, _Handle.read_up_to[0]  # was the whole 20 MB
    finally:
        _Handle.ENDLESS[0] = 0
