"""`arcctl fetch` from a paramiko host whose login prints to stdout (round 6c): SFTP cannot start
there (its first answer is the banner), so the checkpoint comes as a tar stream over an exec
channel of the pool's connection, read by jobs.ssh_tar with the same limits as through the system
ssh (the listing's sizes, the idle stop, the marker that drops the banner).

Before: "cannot open SFTP on h: the SFTP server's first answer is not SFTP …", no fetch at all.
"""

from __future__ import annotations

import os

import pytest

from jobs import ssh_tar
from jobs.errors import RemoteError
from tests.clusters.test_hostile_r6_login import banner_paramiko_pool, banner_sshd  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]


@pytest.fixture
def pool(banner_paramiko_pool):
    return banner_paramiko_pool


def _checkpoint(root):
    ck = root / "checkpoint-7"
    (ck / "sub").mkdir(parents=True)
    (ck / "adapter.bin").write_bytes(os.urandom(300_000))
    (ck / "sub" / "state.json").write_text('{"step": 7}\n')
    (ck / "empty").write_bytes(b"")
    return ck


def test_fetch_from_a_printing_login_comes_as_a_tar_stream_over_the_channel(pool, tmp_path):
    ck = _checkpoint(tmp_path / "run")
    seen: list[int] = []
    dest = tmp_path / "fetched"
    assert pool.download_dir("h", str(ck), dest, on_bytes=seen.append) == 300_000 + 12
    assert (dest / "adapter.bin").read_bytes() == (ck / "adapter.bin").read_bytes()
    assert (dest / "sub" / "state.json").read_text() == '{"step": 7}\n'
    assert (dest / "empty").read_bytes() == b""
    assert sum(seen) >= 300_000  # progress as the stream arrives
    # the connection stays usable: a second fetch over the same pool
    assert pool.download_dir("h", str(ck / "sub"), tmp_path / "again") == 12


def test_a_fetch_over_the_channel_keeps_the_listings_limit(pool, tmp_path, monkeypatch):
    # a host whose tar sends more than its own listing announced: stopped, nothing left behind
    ck = _checkpoint(tmp_path / "run")
    monkeypatch.setattr(ssh_tar, "announced_limit", lambda listing: 50_000)
    dest = tmp_path / "fetched"
    with pytest.raises(RemoteError) as e:
        pool.download_dir("h", str(ck), dest)
    msg = str(e.value)
    assert "sent more than the 50000 bytes its listing announced" in msg and "\n" not in msg, msg
    assert not dest.exists() and not list(tmp_path.glob(".fetched*"))
    assert pool.exec("h", "echo ok") == (0, "ok\n", "")  # the stopped channel left the connection usable


def test_a_fetch_over_the_channel_that_stalls_is_stopped_after_the_idle_limit(pool, tmp_path, monkeypatch):
    ck = _checkpoint(tmp_path / "run")
    monkeypatch.setattr(ssh_tar, "IDLE_S", 1.0)
    # a tar that sends nothing and keeps its channel open (a hung file system)
    real = pool.exec_files("h").tar_stream
    monkeypatch.setattr(type(pool.exec_files("h")), "tar_stream", lambda self, alias, command: real(alias, "sleep 60"))
    dest = tmp_path / "fetched"
    with pytest.raises(RemoteError) as e:
        pool.download_dir("h", str(ck), dest)
    assert "sent nothing for 1 s; stopped the copy" in str(e.value), e.value
    assert not dest.exists()


def test_a_fetch_of_a_missing_folder_over_a_printing_login_names_it(pool, tmp_path):
    with pytest.raises(RemoteError) as e:
        pool.download_dir("h", str(tmp_path / "nope"), tmp_path / "dest")
    assert str(e.value) == f"{tmp_path / 'nope'} does not exist on h"
