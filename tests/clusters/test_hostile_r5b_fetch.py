"""`arcctl fetch` through the system ssh (a ControlPath host) from a hostile host (round 5b): a real
sshd of this module's own whose PATH starts with a `tar` that, for the checkpoints a test names,
sends what a broken or hostile host would: a member far larger than the listing said, an endless
stream of zeros, endless small members. The copy read the stream to its end and filled this disk;
now it stops past what the host's own listing announced, with one line naming host and
checkpoint, and leaves nothing in the destination."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

from jobs.errors import RemoteError
from jobs.ssh_tar import announced_limit
from jobs.ssh_transport import SSHPool
from tests.clusters import daemons

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]
ARCCTL = str(Path(sys.executable).parent / "arcctl")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """(sshd, folder of per-checkpoint tar streams): `tar -C .../NAME/ ...` runs tar.d/NAME when it exists."""
    if os.geteuid() != 0 or not os.path.exists(daemons.SSHD_BINARY):
        pytest.skip("a loopback sshd needs root and /usr/sbin/sshd")
    root = tmp_path_factory.mktemp("hostile-tar-sshd")
    bindir = root / "bin"
    (bindir / "tar.d").mkdir(parents=True)
    tar = bindir / "tar"
    tar.write_text('#!/bin/sh\ns="$0.d/$(basename "$2")"\n[ -x "$s" ] && exec "$s"\nexec /usr/bin/tar "$@"\n')
    tar.chmod(0o755)
    server = daemons.ensure_sshd(root, setenv={"PATH": f"{bindir}:/usr/bin:/bin"})
    yield server, bindir / "tar.d"
    server.stop()


@pytest.fixture
def host(hostile, tmp_path):
    server, _ = hostile
    control = Path(tempfile.mkdtemp(prefix="cmt", dir="/tmp"))  # a socket path must stay short
    extra = f"  ControlMaster auto\n  ControlPath {control}/%C\n  ControlPersist 5\n"
    cfg = server.ssh_config(tmp_path / "ssh_config", alias="h", extra=extra)
    pool = SSHPool(cfg)
    assert pool.transport("h") == "openssh"
    yield pool, cfg
    pool.close()
    subprocess.run(["ssh", "-F", str(cfg), "-O", "exit", "h"], capture_output=True, timeout=30)
    shutil.rmtree(control, ignore_errors=True)


def _checkpoint(tmp_path: Path, name: str) -> Path:
    ck = tmp_path / "run" / name
    ck.mkdir(parents=True)
    (ck / "trainer_state.json").write_text('{"global_step": 2}')
    (ck / "adapter_model.safetensors").write_bytes(b"w" * 300)
    return ck


def _header(tmp_path: Path, name: str, size: int) -> Path:
    info = tarfile.TarInfo(name)
    info.size = size
    path = tmp_path / f"{name.replace('/', '_')}.hdr"
    path.write_bytes(info.tobuf(format=tarfile.GNU_FORMAT))
    return path


def _stream(streams: Path, name: str, body: str) -> None:
    script = streams / name
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)


def _nothing_left(dest: Path) -> None:
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == [] if dest.parent.exists() else True


def test_a_member_larger_than_the_listing_is_refused(host, hostile, tmp_path):
    """The listing says 300 bytes; the tar sends a 64 MB member (and a proper end). It was copied,
    64 MB in place of the 300-byte file."""
    pool, _ = host
    ck = _checkpoint(tmp_path, "checkpoint-11")
    hdr = _header(tmp_path, "./adapter_model.safetensors", 64 * 2**20)
    _stream(hostile[1], ck.name, f"cat {hdr}\nhead -c {64 * 2**20 + 1024} /dev/zero\n")
    dest = tmp_path / "here" / ck.name
    with pytest.raises(RemoteError, match=rf"^h:{ck}: the host sent more than the \d+ bytes its listing announced"):
        pool.download_dir("h", str(ck), dest)
    _nothing_left(dest)


def test_an_endless_member_stops_at_once(host, hostile, tmp_path):
    pool, _ = host
    ck = _checkpoint(tmp_path, "checkpoint-12")
    hdr = _header(tmp_path, "./adapter_model.safetensors", 100 * 2**30)
    _stream(hostile[1], ck.name, f"cat {hdr}\nexec cat /dev/zero\n")
    dest = tmp_path / "here" / ck.name
    t0 = time.monotonic()
    with pytest.raises(RemoteError, match="bytes its listing announced; stopped the copy"):
        pool.download_dir("h", str(ck), dest)
    assert time.monotonic() - t0 < 30
    _nothing_left(dest)


def test_endless_small_members_stop_too(host, hostile, tmp_path):
    pool, _ = host
    ck = _checkpoint(tmp_path, "checkpoint-13")
    member = tmp_path / "member"
    member.write_bytes(_header(tmp_path, "./x.bin", 512).read_bytes() + b"y" * 512)
    _stream(hostile[1], ck.name, f"while :; do cat {member} || exit 1; done\n")
    dest = tmp_path / "here" / ck.name
    with pytest.raises(RemoteError, match="bytes its listing announced"):
        pool.download_dir("h", str(ck), dest)
    _nothing_left(dest)


def test_a_host_that_stops_sending_is_given_up(host, hostile, tmp_path, monkeypatch):
    """Half a header block, then nothing, the connection held open: the copy waited forever."""
    from jobs import ssh_tar

    monkeypatch.setattr(ssh_tar, "IDLE_S", 2.0, raising=False)
    pool, _ = host
    ck = _checkpoint(tmp_path, "checkpoint-17")
    hdr = _header(tmp_path, "./adapter_model.safetensors", 300)
    _stream(hostile[1], ck.name, f"head -c 200 {hdr}\nexec sleep 30\n")
    dest = tmp_path / "here" / ck.name
    with pytest.raises(RemoteError, match=rf"^h:{ck}: the host sent nothing for 2 s; stopped the copy"):
        pool.download_dir("h", str(ck), dest)
    _nothing_left(dest)


def test_the_cli_says_it_in_one_line_and_an_honest_host_still_copies(host, hostile, tmp_path):
    pool, cfg = host
    env = {**os.environ, "ARCCTL_SSH_CONFIG": str(cfg), "ARCCTL_HOME": str(tmp_path / "home")}
    bad = _checkpoint(tmp_path, "checkpoint-14")
    hdr = _header(tmp_path, "./adapter_model.safetensors", 100 * 2**30)
    _stream(hostile[1], bad.name, f"cat {hdr}\nexec cat /dev/zero\n")
    dest = tmp_path / "out" / "ck"
    res = subprocess.run(
        [ARCCTL, "fetch", f"h:{bad.parent}", "14", str(dest)], capture_output=True, text=True, env=env, timeout=60
    )
    out = (res.stdout + res.stderr).strip()
    assert res.returncode == 2 and "Traceback" not in out and len(out.splitlines()) == 1, out
    assert f"h:{bad}: the host sent more than" in out and "nothing was fetched" in out, out
    assert not dest.exists() and (not dest.parent.exists() or list(dest.parent.iterdir()) == [])

    # the real tar, names long enough for GNU long-name headers, a link: within the limit
    good = _checkpoint(tmp_path, "checkpoint-15")
    deep = good / ("d" * 120) / ("e" * 150)
    deep.mkdir(parents=True)
    (deep / ("f" * 200)).write_bytes(os.urandom(5000))
    os.symlink("adapter_model.safetensors", good / ("l" * 180))
    res = subprocess.run(
        [ARCCTL, "fetch", f"h:{good.parent}", "15", str(dest)], capture_output=True, text=True, env=env, timeout=60
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert (dest / ("d" * 120) / ("e" * 150) / ("f" * 200)).read_bytes() == (deep / ("f" * 200)).read_bytes()
    assert (dest / "adapter_model.safetensors").read_bytes() == b"w" * 300


def test_the_limit_covers_what_gnu_tar_writes(tmp_path):
    """The announced limit against the real tar and find on this machine: long names, links, empty
    and odd-sized files, a name that is not UTF-8."""
    ck = tmp_path / "checkpoint-16"
    (ck / ("a" * 99) / ("b" * 255)).mkdir(parents=True)
    for i, size in enumerate((0, 1, 511, 512, 513, 10239, 10241)):
        (ck / ("a" * 99) / f"{'c' * (90 + i * 20)}{i}").write_bytes(b"z" * size)
    os.symlink("x" * 250, ck / ("l" * 200))
    (ck / os.fsdecode(b"\xff\xfename")).write_bytes(b"q" * 7)
    for fmt in ("gnu", "posix"):
        archive = subprocess.run(
            ["tar", "-C", f"{ck}/", f"--format={fmt}", "-cf", "-", "."], capture_output=True, check=True
        ).stdout
        listing = subprocess.run(
            ["find", ".", "-printf", "%y %s %p%l\\0"], cwd=ck, capture_output=True, check=True
        ).stdout
        assert len(archive) <= announced_limit(listing), fmt
