"""Remote RUN arguments (round 5), with the real binary against real sshds on loopback:

- `user@[::1]:PORT:/run` and `[::1]:/run` (an IPv6 host in brackets, an optional port) were not
  taken for a remote run ("not a run dir, and no job ..."); a host reached through the system ssh
  (a ControlPath) with a port or brackets was given to ssh as `root@[::1]:2222`, which it cannot
  resolve. A second sshd listens on ::1 for these tests.
- a run-dir file (or the run dir) that is a symbolic link loop read as "not written yet" (the SFTP
  server answers ELOOP as "no such file"): now one line naming the host and the path, over
  paramiko and over the system ssh. A dangling link still reads as not written yet.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from jobs.sftp_runfs import SFTPFS
from jobs.ssh_transport import SSHPool
from tests.clusters import daemons
from tests.clusters.cli_lines import one_line as _one_line

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]
ARCCTL = str(Path(sys.executable).parent / "arcctl")


def _arcctl(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARCCTL_SSH_CONFIG": str(cfg)}
    return subprocess.run([ARCCTL, *args], capture_output=True, text=True, env=env, timeout=60)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def v6(sshd, tmp_path_factory):
    """A second sshd listening on ::1 only, accepting the shared test key."""
    if not _ipv6_loopback():
        pytest.skip("no IPv6 loopback here (::1 cannot be bound)")
    root = tmp_path_factory.mktemp("v6-sshd")
    daemons._keygen(root / "host_ed25519")
    (root / "authorized_keys").write_text(Path(str(sshd.user_key) + ".pub").read_text())
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        port = s.getsockname()[1]
    (root / "sshd_config").write_text(
        f"ListenAddress [::1]:{port}\nHostKey {root}/host_ed25519\nPidFile {root}/sshd.pid\n"
        f"AuthorizedKeysFile {root}/authorized_keys\nPermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\nMaxStartups 100\nSubsystem sftp internal-sftp\n"
        + ("PerSourcePenalties no\n" if daemons._sshd_version() >= (9, 8) else "")
    )
    subprocess.run([daemons.SSHD_BINARY, "-f", str(root / "sshd_config"), "-E", str(root / "sshd.log")], check=True)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            socket.create_connection(("::1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    host_pub = " ".join((root / "host_ed25519.pub").read_text().split()[:2])
    known = root / "known_hosts"
    known.write_text(f"[::1]:{port} {host_pub}\n")
    yield {"port": port, "known": known}
    daemons._stop(daemons._read_pid(root / "sshd.pid"))


def _run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "stdout.log").write_text("hello over ipv6\n")
    return run


def test_an_ipv6_host_in_brackets_is_a_remote_run(sshd, v6, tmp_path):
    run = _run_dir(tmp_path)
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        f"Host ::1\n  IdentityFile {sshd.user_key}\n  UserKnownHostsFile {v6['known']}\n"
        f"Host v6alias\n  HostName ::1\n  Port {v6['port']}\n  User root\n"
        f"  IdentityFile {sshd.user_key}\n  UserKnownHostsFile {v6['known']}\n"
    )
    for target in (f"root@[::1]:{v6['port']}:{run}", f"[::1]:{v6['port']}:{run}/", f"v6alias:{run}"):
        res = _arcctl(cfg, "logs", target)
        assert res.returncode == 0 and res.stdout == "hello over ipv6\n", (target, res.stdout, res.stderr)
    # the port comes from the config when the argument has none
    cfg.write_text(cfg.read_text().replace("Host ::1\n", f"Host ::1\n  Port {v6['port']}\n  User root\n"))
    res = _arcctl(cfg, "logs", f"[::1]:{run}")
    assert res.returncode == 0 and res.stdout == "hello over ipv6\n", res.stdout + res.stderr
    # a missing run dir names the host as given; a port out of range is one line
    _one_line(
        _arcctl(cfg, "logs", f"root@[::1]:{v6['port']}:{tmp_path}/nope"),
        f"{tmp_path}/nope: no such run dir on root@[::1]",
    )
    _one_line(_arcctl(cfg, "logs", f"[::1]:70000:{run}"), "port '70000' is not a port number")


def test_an_ipv6_host_through_the_system_ssh(sshd, v6, tmp_path):
    """A ControlPath host goes through the system ssh, whose command line takes no `host:port`
    nor brackets: it is given as an ssh:// URI."""
    run = _run_dir(tmp_path)
    control = Path(tempfile.mkdtemp(prefix="cm6", dir="/tmp"))  # a socket path must stay short
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        f"Host ::1\n  User root\n  IdentityFile {sshd.user_key}\n  UserKnownHostsFile {v6['known']}\n"
        f"  ControlMaster auto\n  ControlPath {control}/%C\n"
    )
    try:
        res = _arcctl(cfg, "logs", f"root@[::1]:{v6['port']}:{run}")
        assert res.returncode == 0 and res.stdout == "hello over ipv6\n", res.stdout + res.stderr
    finally:
        shutil.rmtree(control, ignore_errors=True)


# ---- link loops -----------------------------------------------------------------------------------


def _loops(tmp_path: Path) -> tuple[Path, Path]:
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.json").write_text("{}")
    os.symlink("metrics.jsonl", run / "metrics.jsonl")  # itself
    os.symlink("b.log", run / "stdout.log")  # stdout.log -> b.log -> stdout.log
    os.symlink("stdout.log", run / "b.log")
    os.symlink("gone.log", run / "stderr.log")  # dangling: not written yet, no error
    looped = tmp_path / "looped-run"
    os.symlink(looped.name, looped)
    return run, looped


def test_a_link_loop_in_a_remote_run_is_one_line_naming_host_and_path(ssh_config, tmp_path):
    run, looped = _loops(tmp_path)
    _one_line(_arcctl(ssh_config, "tail", f"testhost:{run}"), f"{run}/metrics.jsonl", "symbolic link loop", "testhost")
    _one_line(_arcctl(ssh_config, "logs", f"testhost:{run}"), f"{run}/stdout.log", "symbolic link loop", "testhost")
    _one_line(_arcctl(ssh_config, "logs", f"testhost:{looped}"), f"{looped}", "symbolic link loop", "testhost")
    res = _arcctl(ssh_config, "logs", "--stderr", f"testhost:{run}")
    assert res.returncode == 0 and "no stderr.log" in res.stderr, res.stdout + res.stderr


def test_a_link_loop_through_the_system_ssh(sshd, tmp_path):
    run, looped = _loops(tmp_path)
    control = Path(tempfile.mkdtemp(prefix="cml", dir="/tmp"))
    cfg = sshd.ssh_config(tmp_path / "ssh_config", extra=f"  ControlMaster auto\n  ControlPath {control}/%C\n")
    try:
        _one_line(_arcctl(cfg, "tail", f"testhost:{run}"), f"{run}/metrics.jsonl", "symbolic link loop", "testhost")
        _one_line(_arcctl(cfg, "logs", f"testhost:{run}"), f"{run}/stdout.log", "symbolic link loop", "testhost")
        _one_line(_arcctl(cfg, "logs", f"testhost:{looped}"), f"{looped}", "symbolic link loop", "testhost")
        res = _arcctl(cfg, "logs", "--stderr", f"testhost:{run}")
        assert res.returncode == 0 and "no stderr.log" in res.stderr, res.stdout + res.stderr
    finally:
        shutil.rmtree(control, ignore_errors=True)


def test_an_unknown_ipv6_host_key_is_trusted_as_the_error_says(sshd, v6, tmp_path):
    """The unknown-key error names the host as given (`root@[::1]:PORT`) and says to run
    `arcctl hosts THAT --trust FP`; `hosts` and `--trust` looked THAT up as a config alias."""
    run = _run_dir(tmp_path)
    known = tmp_path / "known_hosts"
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host ::1\n  IdentityFile {sshd.user_key}\n  UserKnownHostsFile {known}\n")
    hop = f"root@[::1]:{v6['port']}"
    line = _one_line(_arcctl(cfg, "logs", f"{hop}:{run}"), "is unknown", f"arcctl hosts {hop} --trust SHA256:")
    fp = line.split("--trust ")[1].split()[0].rstrip("`)")
    assert f"{hop} (root@[::1]:{v6['port']})" in line  # the address bracketed, not `::1:PORT`
    res = _arcctl(cfg, "hosts", hop, "--trust", fp)
    assert res.returncode == 0, res.stdout + res.stderr
    added, checked = res.stdout.splitlines()
    assert added == f"{hop}: added key {fp} to {known}" and checked.split()[:3] == [hop, hop, "ok"], res.stdout
    assert known.read_text().startswith(f"[::1]:{v6['port']} ssh-ed25519 ")
    res = _arcctl(cfg, "logs", f"{hop}:{run}")
    assert res.returncode == 0 and res.stdout == "hello over ipv6\n", res.stdout + res.stderr


# ---- a run-dir file read whole that is huge --------------------------------------------------------


@pytest.mark.parametrize("transport", ["paramiko", "openssh"])
def test_a_sparse_20_gb_spec_is_not_read_whole(sshd, tmp_path, transport):
    """`truncate -s 20G spec.json`: `arcctl tail` and `health` read it zero by zero over the link
    (they hung past any timeout); now it reads as unreadable, as a pipe there does: `tail` goes on
    without it, `health` says it cannot judge the run."""
    run = tmp_path / "run"
    run.mkdir()
    with open(run / "spec.json", "wb") as f:
        f.truncate(20 * 2**30)
    (run / "metrics.jsonl").write_text('{"step": 1, "loss": 1.5}\n')
    control = Path(tempfile.mkdtemp(prefix="cmb", dir="/tmp"))
    extra = f"  ControlMaster auto\n  ControlPath {control}/%C\n" if transport == "openssh" else ""
    cfg = sshd.ssh_config(tmp_path / "ssh_config", extra=extra)
    try:
        t0 = time.monotonic()
        res = _arcctl(cfg, "tail", f"testhost:{run}")
        assert res.returncode == 0 and "step 1" in res.stdout, res.stdout + res.stderr
        res = _arcctl(cfg, "health", f"testhost:{run}")  # a spec.json it cannot read: "could not look"
        assert res.returncode == 2, res.stdout + res.stderr
        assert (
            res.stderr
            == f"error: testhost:{run}: {run}/spec.json: larger than 256 MB, not read whole; cannot judge this run\n"
        )
        assert time.monotonic() - t0 < 30
        with pytest.raises(OSError, match="larger than 256 MB"):
            SFTPFS("testhost", SSHPool(cfg)).read_text(f"{run}/spec.json")
    finally:
        shutil.rmtree(control, ignore_errors=True)
