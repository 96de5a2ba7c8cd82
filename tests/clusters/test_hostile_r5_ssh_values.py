"""Numbers in the ssh config that no socket takes (round 5): a negative or astronomic
ConnectTimeout was "ssh to h failed: ValueError: Timeout value out of range" (or an OverflowError
about C time types) at connect time, naming neither the file nor the setting. Now one line at
lookup, naming file, host and setting, like a Port out of range."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.errors import RemoteError
from jobs.ssh_config import resolve_host

ARCCTL = str(Path(sys.executable).parent / "arcctl")


@pytest.mark.parametrize(
    "line",
    ["ConnectTimeout -5", "ConnectTimeout 99999999999999999999", "ServerAliveInterval -1"],
)
def test_a_number_no_socket_takes_is_one_line_naming_the_setting(tmp_path, line):
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host h\n  HostName 127.0.0.1\n  {line}\n")
    key = line.split()[0].lower()
    with pytest.raises(RemoteError, match=rf"ssh config {cfg}: {key} of host h is out of range"):
        resolve_host("h", cfg)
    res = subprocess.run(
        [ARCCTL, "hosts", "h", "--timeout", "2"],
        capture_output=True,
        text=True,
        env={**os.environ, "ARCCTL_SSH_CONFIG": str(cfg)},
        timeout=60,
    )
    out = (res.stdout + res.stderr).strip()
    assert res.returncode == 2 and out.count("\n") == 0 and f"{key} of host h is out of range" in out, out


def test_numbers_in_range_still_resolve(tmp_path):
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host h\n  HostName 127.0.0.1\n  Port 65535\n  ConnectTimeout 0\n  ServerAliveInterval 30\n")
    h = resolve_host("h", cfg)
    assert (h.port, h.connect_timeout, h.server_alive_interval) == (65535, 0, 30)
    for port in ("0", "65536"):  # refused before too, in other words
        cfg.write_text(f"Host h\n  Port {port}\n")
        with pytest.raises(RemoteError, match="port of host h is out of range"):
            resolve_host("h", cfg)
