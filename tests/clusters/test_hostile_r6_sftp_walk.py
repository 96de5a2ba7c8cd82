"""`arcctl fetch` over SFTP when the server refuses part of the tree (round 6): a folder it will
not list, a file it will not open, a file gone mid-walk. paramiko's errors name no file, so the
copy failed with "Permission denied" and left the user to guess which of a checkpoint's files it
was. Now one line names the host and the file, and nothing is fetched. The server is paramiko's
(tests/clusters/paramiko_server.py): the loopback sshd logs in as root, whom no permission stops."""

from __future__ import annotations

import stat

import paramiko
import pytest

from jobs.errors import RemoteError
from jobs.ssh_transport import SSHPool
from tests.clusters.paramiko_server import AcceptAll, serving

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(60)]

TREE = {"/ck": ["config.json", "shards", "optimizer.pt"], "/ck/shards": ["a.bin", "b.bin"]}


def _attrs(name: str, folder: bool) -> paramiko.SFTPAttributes:
    a = paramiko.SFTPAttributes()
    a.filename, a.st_size, a.st_uid, a.st_gid, a.st_atime, a.st_mtime = name, 0 if folder else 4, 0, 0, 0, 0
    a.st_mode = (stat.S_IFDIR | 0o755) if folder else (stat.S_IFREG | 0o644)
    return a


class _Handle(paramiko.SFTPHandle):
    def read(self, offset, length):
        return b"data"[offset : offset + length]


def _refusing(refuse: dict[str, int]):
    class Refusing(paramiko.SFTPServerInterface):
        """TREE's folders and 4-byte files; a path in REFUSE gets that SFTP status."""

        def stat(self, path):
            return _attrs(path.rsplit("/", 1)[-1], path in TREE)

        lstat = stat

        def list_folder(self, path):
            if path in refuse:
                return refuse[path]
            return [_attrs(n, f"{path}/{n}" in TREE) for n in TREE[path]]

        def open(self, path, flags, attr):
            return refuse.get(path) or _Handle(flags)

    return Refusing


@pytest.mark.parametrize(
    "path, status, why",
    [
        ("/ck/shards/b.bin", paramiko.SFTP_PERMISSION_DENIED, "Permission denied"),
        ("/ck/shards", paramiko.SFTP_PERMISSION_DENIED, "Permission denied"),
        ("/ck/optimizer.pt", paramiko.SFTP_NO_SUCH_FILE, "No such file"),
    ],
)
def test_a_refusal_mid_walk_names_the_file(sshd, tmp_path, path, status, why):
    with serving(sshd, tmp_path, "refusing", AcceptAll, sftp=_refusing({path: status})) as cfg:
        dest = tmp_path / "fetched" / "ck"
        pool = SSHPool(cfg)
        with pytest.raises(RemoteError) as e:
            pool.download_dir("refusing", "/ck", dest)
        assert str(e.value) == f"copy of /ck from refusing failed: refusing:{path}: {why} (nothing was fetched)"
        assert not dest.exists() and not any(dest.parent.iterdir())
        pool.close()
    # the same server refusing nothing: the copy works (the test server is not what failed)
    with serving(sshd, tmp_path, "honest", AcceptAll, sftp=_refusing({})) as cfg:
        assert SSHPool(cfg).download_dir("honest", "/ck", dest) == 16
        assert (dest / "shards" / "b.bin").read_bytes() == b"data"
