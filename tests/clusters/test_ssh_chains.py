"""SSH as users have it, with two real sshd on loopback (a jump host and the target): the whole
ProxyJump chain (each hop is seen in the jump host's own log), ProxyCommand, `user@host:port` hops
configured by `Host *`, and hosts that need the system ssh (ControlMaster: opened once by the
user, as for a 2FA login, then reused by arcctl without any key of its own)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from jobs.errors import RemoteError
from jobs.ssh_transport import SFTPFS, SSHPool, expand_path
from jobs.rundir import JsonlTail
from tests.clusters import daemons

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def jump(sshd, tmp_path_factory):
    """A second sshd (the jump host), logging at DEBUG1 so each forwarded connection is visible."""
    root = tmp_path_factory.mktemp("jump-sshd")
    daemons._keygen(root / "host_ed25519")
    (root / "authorized_keys").write_text(Path(str(sshd.user_key) + ".pub").read_text())
    port = daemons.free_port()
    (root / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {root}/host_ed25519\nPidFile {root}/sshd.pid\n"
        f"AuthorizedKeysFile {root}/authorized_keys\nPermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\nAllowTcpForwarding yes\nLogLevel DEBUG1\nMaxStartups 100\n"
        + ("PerSourcePenalties no\n" if daemons._sshd_version() >= (9, 8) else "")
    )
    log = root / "sshd.log"
    subprocess.run([daemons.SSHD_BINARY, "-f", str(root / "sshd_config"), "-E", str(log)], check=True)
    end = time.monotonic() + 10
    while not (root / "sshd.pid").exists() and time.monotonic() < end:
        time.sleep(0.05)
    host_pub = " ".join((root / "host_ed25519.pub").read_text().split()[:2])
    yield {"port": port, "log": log, "host_pub": host_pub}
    daemons._stop(daemons._read_pid(root / "sshd.pid"))


@pytest.fixture
def config(sshd, jump, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_pub}\n[127.0.0.1]:{jump['port']} {jump['host_pub']}\n")

    def write(target_extra: str, more: str = "") -> Path:
        path = tmp_path / "ssh_config"
        path.write_text(
            f"Host jump\n  HostName 127.0.0.1\n  Port {jump['port']}\n  IdentityFile {sshd.user_key}\n\n"
            f"Host target\n  HostName 127.0.0.1\n  Port {sshd.port}\n  IdentityFile {sshd.user_key}\n"
            f"{target_extra}\n{more}\n"
            f"Host 127.0.0.1\n  IdentityFile {sshd.user_key}\n\n"  # `user@127.0.0.1:port` hops
            f"Host *\n  User root\n  UserKnownHostsFile {known}\n"
        )
        return path

    return write


def _forwards(jump, port: int) -> int:
    """How many forwarded connections to PORT the jump host has logged."""
    return jump["log"].read_text(errors="replace").count(f"target 127.0.0.1 port {port}")


def test_the_whole_proxyjump_chain_is_used(sshd, jump, config):
    cfg = config(f"  ProxyJump jump,root@127.0.0.1:{jump['port']}\n")
    to_jump, to_target = _forwards(jump, jump["port"]), _forwards(jump, sshd.port)
    pool = SSHPool(cfg)
    assert pool.exec("target", "echo through-the-chain") == (0, "through-the-chain\n", "")
    # hop 1 (jump) forwarded to hop 2 (the jump host again), which forwarded to the target
    assert _forwards(jump, jump["port"]) == to_jump + 1
    assert _forwards(jump, sshd.port) == to_target + 1
    assert pool.exec("target", "echo again")[1] == "again\n"
    assert pool.connects == 3  # jump, the second hop, the target: each once, then reused
    pool.close()


def test_proxycommand(sshd, jump, config):
    cfg = config(f"  ProxyCommand ssh -F {os.path.dirname(config(''))}/ssh_config -W %h:%p jump\n")
    before = _forwards(jump, sshd.port)
    pool = SSHPool(cfg)
    assert pool.exec("target", "echo via-proxycommand")[1] == "via-proxycommand\n"
    assert _forwards(jump, sshd.port) == before + 1
    pool.close()


def test_a_broken_chain_names_host_and_hop(sshd, config):
    cfg = config(f"  ProxyJump jump,root@127.0.0.1:{daemons.free_port()}\n")
    with pytest.raises(
        RemoteError,
        match=r"cannot reach target .* through ProxyJump root@127\.0\.0\.1:\d+: .* through ProxyJump jump: the hop could not connect onwards \(Connect failed\)",
    ):
        SSHPool(cfg).exec("target", "true")
    loop = config("  ProxyJump target\n")
    with pytest.raises(RemoteError, match="ProxyJump chain of target loops"):
        SSHPool(loop).exec("target", "true")


def test_control_master_host_goes_through_the_system_ssh(sshd, config, tmp_path):
    """`cm` has no key arcctl could use (IdentitiesOnly, a missing file), like a host that asks
    for a one-time code: only the master connection the user opened can run commands."""
    import shutil
    import tempfile

    control = Path(tempfile.mkdtemp(prefix="cm", dir="/tmp"))  # a socket path must stay short
    more = (
        f"Host cm\n  HostName 127.0.0.1\n  Port {sshd.port}\n  IdentitiesOnly yes\n"
        f"  IdentityFile {tmp_path}/no-such-key\n  ControlMaster auto\n  ControlPath {control}/%C\n"
        "  ControlPersist 60\n"
    )
    cfg = config("", more)
    pool = SSHPool(cfg)
    assert pool.transport("cm") == "openssh" and pool.transport("target") == "paramiko"
    with pytest.raises(RemoteError) as e:
        pool.exec("cm", "true")
    assert "ssh to cm (system ssh) failed" in str(e.value) and "open the shared connection once" in str(e.value)
    assert "\n" not in str(e.value)

    # the user logs in once (here with the key; on a 2FA host they would type the code)
    subprocess.run(
        ["ssh", "-F", str(cfg), "-i", str(sshd.user_key), "-o", "BatchMode=yes", "-fN", "cm"], check=True, timeout=30
    )
    try:
        assert pool.exec("cm", "echo over-the-master") == (0, "over-the-master\n", "")
        run = tmp_path / "remote-run"
        pool.write_text("cm", f"{run}/metrics.jsonl", '{"step": 1}\n{"step": 2}\n', mode=0o640)
        fs = SFTPFS("cm", pool)
        assert fs.listdir(str(run)) == ["metrics.jsonl"] and fs.exists(f"{run}/metrics.jsonl")
        tail = JsonlTail(f"{run}/metrics.jsonl", fs)
        assert [r["step"] for r in tail.read_new()] == [1, 2]
        with open(run / "metrics.jsonl", "a") as f:
            f.write('{"step": 3}\n{"step": 4')  # a torn last line stays unread
        assert [r["step"] for r in tail.read_new()] == [3]
        assert expand_path("cm", "~/x", pool) == f"{os.path.expanduser('~')}/x"
        (run / "checkpoint-1").mkdir()
        (run / "checkpoint-1" / "model.bin").write_bytes(b"w" * 1000)
        assert pool.download_dir("cm", str(run / "checkpoint-1"), tmp_path / "back") == 1000
        assert (tmp_path / "back" / "model.bin").read_bytes() == b"w" * 1000
    finally:
        subprocess.run(["ssh", "-F", str(cfg), "-O", "exit", "cm"], capture_output=True, timeout=30)
        shutil.rmtree(control, ignore_errors=True)


def test_host_key_alias_and_connect_options(sshd, tmp_path):
    """known_hosts lists the host under its HostKeyAlias (as OpenSSH looks it up); the other
    options paramiko can honour are taken from the config."""
    from jobs.ssh_config import resolve_host

    known = tmp_path / "known_hosts"
    known.write_text(f"login.cluster.example {sshd.host_pub}\n")
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        f"Host aliased\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User root\n"
        f"  IdentityFile {sshd.user_key}\n  UserKnownHostsFile {known}\n"
        "  HostKeyAlias login.cluster.example\n  ServerAliveInterval 15\n  Compression yes\n"
        "  ConnectTimeout 7\n"
    )
    h = resolve_host("aliased", cfg)
    assert (h.known_hosts_key, h.server_alive_interval, h.compression, h.connect_timeout) == (
        "login.cluster.example",
        15,
        True,
        7,
    )
    pool = SSHPool(cfg)
    assert pool.exec("aliased", "echo ok")[1] == "ok\n"
    pool.close()
    known.write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_pub}\n")  # only under the address: refused
    with pytest.raises(RemoteError, match="host key of aliased .* is unknown"):
        SSHPool(cfg).exec("aliased", "true")
