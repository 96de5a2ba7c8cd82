"""A host whose login prints to stdout (round 6): an `echo` in ~/.bashrc, a site banner, a
`module load` message. sshd runs every command through the login shell, so that text came
before every command's own output. A real sshd of this module's own plays it with a ForceCommand
that prints a banner and then runs the command asked for (as a startup file does), and runs
the SFTP server through the shell too (`Subsystem sftp /usr/lib/openssh/sftp-server`).

Before: a runs_root `~/runs` expanded to 'Welcome…\\n/root/runs' and was refused (no submit
over paramiko); through the system ssh a spec.json read began with the banner, a size was a
ValueError traceback and a checkpoint's tar stream was "no tar"; SFTP failed with paramiko's
"Garbage packet received", naming no cause. Now each command's output is what it printed, and
SFTP says what breaks it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from jobs.errors import RemoteError
from jobs.sftp_runfs import SFTPFS
from jobs.ssh_transport import SSHPool, expand_path
from tests.clusters import daemons

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]

BANNER = "Welcome to the cluster! Your quota: 93% used"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"


@pytest.fixture(scope="module")
def banner_sshd(tmp_path_factory):
    if os.geteuid() != 0 or not os.path.exists(daemons.SSHD_BINARY) or not os.path.exists(SFTP_SERVER):
        pytest.skip("a loopback sshd needs root, /usr/sbin/sshd and its sftp-server")
    root = tmp_path_factory.mktemp("banner-sshd")
    login = root / "login.sh"
    login.write_text(f'#!/bin/sh\necho "{BANNER}"\nexec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n')
    login.chmod(0o755)
    server = daemons.ensure_sshd(root, config=f"Subsystem sftp {SFTP_SERVER}\nForceCommand {login}\n")
    yield server
    server.stop()


@pytest.fixture
def banner_paramiko_pool(banner_sshd, tmp_path):
    """A paramiko pool to the banner sshd (the round-6b/6c tests' own `pool`)."""
    p = SSHPool(banner_sshd.ssh_config(tmp_path / "ssh_config", alias="h"))
    assert p.transport("h") == "paramiko"
    yield p
    p.close()


@pytest.fixture(params=["paramiko", "openssh"])
def pool(request, banner_sshd, tmp_path):
    control = Path(tempfile.mkdtemp(prefix="cm", dir="/tmp"))  # a socket path must stay short
    extra = f"  ControlMaster auto\n  ControlPath {control}/%C\n  ControlPersist 5\n"
    cfg = banner_sshd.ssh_config(tmp_path / "ssh_config", alias="h", extra=extra if request.param == "openssh" else "")
    p = SSHPool(cfg)
    assert p.transport("h") == request.param
    yield p
    p.close()
    subprocess.run(["ssh", "-F", str(cfg), "-O", "exit", "h"], capture_output=True, timeout=30)
    shutil.rmtree(control, ignore_errors=True)


def test_a_commands_output_is_what_it_printed_not_the_login_banner(pool):
    # the server really prints it: the ssh client sees it before the command's output
    cfg = pool.host("h").config_path
    seen = subprocess.run(["ssh", "-F", cfg, "-o", "BatchMode=yes", "h", "echo x"], capture_output=True, text=True)
    assert seen.stdout == f"{BANNER}\nx\n", seen
    assert pool.exec("h", "printf '%s' 'a b'") == (0, "a b", "")
    assert pool.exec("h", "cat", input="in\n")[:2] == (0, "in\n")
    # a profile's runs_root: was refused, "'$HOME/runs' expands to 'Welcome…\n/root/runs'"
    assert expand_path("h", "~/runs", pool) == "/root/runs"


def test_run_dir_files_are_the_files(pool, tmp_path):
    # the system ssh reads with commands; paramiko finds SFTP unusable at the first read and then
    # reads (and fetches) through commands too
    run = tmp_path / "run"
    (run / "checkpoint-2").mkdir(parents=True)
    (run / "spec.json").write_text('{"name": "x"}\n')
    (run / "checkpoint-2" / "adapter.bin").write_bytes(os.urandom(70_000))
    fs = SFTPFS("h", pool)
    assert fs.read_text(str(run / "spec.json")) == '{"name": "x"}\n'  # began with the banner
    assert fs.size(str(run / "spec.json")) == 14  # was a ValueError traceback
    assert sorted(fs.listdir(str(run))) == ["checkpoint-2", "spec.json"]
    with fs.open_binary(str(run / "spec.json")) as f:
        f.seek(2)
        assert f.read(4) == b"name"
    # a checkpoint fetched as a tar stream: "copy ... failed: invalid header"
    dest = tmp_path / "fetched"
    assert pool.download_dir("h", str(run / "checkpoint-2"), dest) == 70_000
    assert (dest / "adapter.bin").read_bytes() == (run / "checkpoint-2" / "adapter.bin").read_bytes()


def test_sftp_behind_a_login_that_prints_says_why_in_one_line(pool, tmp_path):
    if pool.transport("h") != "paramiko":
        pytest.skip("the system ssh reads run dirs with commands, not SFTP")
    # run-dir reads and fetch fall back to commands there (test_hostile_r6b_login_files,
    # test_hostile_r6c_login_fetch); SFTP itself says why it cannot start
    with pytest.raises(RemoteError) as e:
        pool.sftp_call("h", lambda s: s.listdir(str(tmp_path)))
    msg = str(e.value)
    # was "cannot open SFTP on h: Garbage packet received"
    assert msg.startswith("cannot open SFTP on h: ") and "prints to stdout (an echo in ~/.bashrc)" in msg, msg
    assert "\n" not in msg
