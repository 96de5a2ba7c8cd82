"""Host names DNS can never look up and ProxyCommands that reach something else (round 6c),
against the real loopback sshd and the real `arcctl hosts`.

Before: a host name past 253 characters, a label past 63 or an empty one (`a..b`) was
`UnicodeError: encoding with 'idna' codec failed (label too long)` quoting the whole name; a
ProxyCommand that sent bytes that are not SSH (an HTTP proxy's refusal, nc to the wrong port) got
"did not answer as an SSH server …; is an sshd listening on port 22?". Now each is one line
naming the host (cut) and the limit, or the ProxyCommand and what it sent (quoted, cut).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.errors import RemoteError
from jobs.known_hosts import scan_host_key
from jobs.ssh_config import parse_hop
from jobs.ssh_transport import SSHPool
from tests.clusters.cli_lines import one_line

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]
ARCCTL = str(Path(sys.executable).parent / "arcctl")

LONG_LABEL = "gpu" + "x" * 70 + ".example.org"
LONG_NAME = ".".join(["node" + "y" * 50] * 6)  # 329 characters, each label legal


def _hosts(cfg: Path, tmp_path: Path, host: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARCCTL_SSH_CONFIG": str(cfg), "ARCCTL_HOME": str(tmp_path / "home")}
    return subprocess.run([ARCCTL, "hosts", host], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize(
    "name, words",
    [
        (LONG_LABEL, "has the label 'gpuxxxxxxxxxxxxxxxxx…' (73 characters); a DNS label is 1 to 63 characters"),
        (LONG_NAME, "is 329 characters, past the 253 a DNS name may have"),
        ("gpu01..example.org", "has an empty label (two dots); a DNS label is 1 to 63 characters"),
    ],
    ids=["long-label", "long-name", "empty-label"],
)
def test_a_host_name_dns_cannot_hold_is_one_line_naming_it_and_the_limit(sshd, tmp_path, name, words):
    cfg = sshd.ssh_config(tmp_path / "ssh_config")
    # as a hop given whole (a profile's host, `arcctl hosts NAME`)
    with pytest.raises(RemoteError) as err:
        SSHPool(cfg).exec(f"root@{name}:22", "true", timeout=30)
    msg, hop = str(err.value), f"root@{name}:22"
    cut = hop if len(hop) <= 40 else hop[:40] + "…"
    assert msg.startswith(f"ssh host {cut!r}: host name ") and msg.endswith(words), msg
    assert "idna" not in msg and len(msg) < 300
    # as the HostName of an alias in the ssh config
    cfg.write_text(cfg.read_text() + f"\nHost far\n  HostName {name}\n")
    with pytest.raises(RemoteError) as err:
        parse_hop("far", cfg)
    assert str(err.value).startswith("ssh host 'far': host name ") and str(err.value).endswith(words)
    line = one_line(_hosts(cfg, tmp_path, "far"), "ssh host 'far': host name ", words, codes=(1, 2))
    assert "Traceback" not in line


def test_addresses_and_ordinary_names_still_pass(sshd, tmp_path):
    cfg = sshd.ssh_config(tmp_path / "ssh_config")
    assert parse_hop("root@[::1]:2222", cfg).hostname == "::1"
    assert parse_hop("[fe80::1%eth0]", cfg).hostname == "fe80::1%eth0"
    assert parse_hop("gpu01.example.org.", cfg).hostname == "gpu01.example.org."
    assert parse_hop("a" * 63 + ".org", cfg).port == 22
    assert scan_host_key(parse_hop("testhost", cfg), timeout=10) is not None


@pytest.mark.parametrize(
    "said, shown",
    [
        ("HTTP/1.1 403 Forbidden\\r\\n\\r\\n", "'HTTP/1.1 403 Forbidden\\\\r\\\\n\\\\r\\\\n'"),
        ("\\033[31mdenied\\377" + "z" * 100, "'\\\\x1b[31mdenied\\\\xff" + "z" * 68 + "'…"),
    ],
    ids=["http", "escapes"],
)
def test_a_proxycommand_that_sends_no_ssh_is_named_with_what_it_sent(sshd, tmp_path, said, shown):
    proxy = f"sh -c 'printf \"{said}\"; exec sleep 30'"
    cfg = sshd.ssh_config(tmp_path / "ssh_config", extra=f"  ConnectTimeout 2\n  ProxyCommand {proxy}\n")
    with pytest.raises(RemoteError) as err:
        SSHPool(cfg).exec("testhost", "true", timeout=30)
    msg = str(err.value)
    words = f"sent {shown}, which is not an SSH server's greeting (SSH-2.0-…)"
    assert msg.startswith("ProxyCommand of testhost (") and msg.endswith(f" ({proxy}) {words}"), msg
    line = one_line(_hosts(cfg, tmp_path, "testhost"), "ProxyCommand of testhost (", words, codes=(1, 2))
    assert "sshd listening" not in line
