"""The console CLI tests use the CLI and job-core fixtures (tests.cli_jobs): a private ARCCTL_HOME and config dir, fake
trainer templates (real processes), and the real `arcctl` binary; remote commands a real sshd
on loopback."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from tests.cli_jobs.conftest import home  # noqa: F401 - a fixture


def loopback_sshd(state_dir: str) -> Iterator:
    """Body of a module fixture: the real OpenSSH server on 127.0.0.1 (tests.clusters.daemons),
    or a skip that says what is missing."""
    from tests.clusters import daemons

    if not os.path.exists(daemons.SSHD_BINARY):
        pytest.skip("OpenSSH server missing: /usr/sbin/sshd (apt-get install openssh-server)")
    if os.geteuid() != 0:
        pytest.skip("the loopback sshd of these tests needs root")
    server = daemons.ensure_sshd(state_dir)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sshd():
    yield from loopback_sshd("/tmp/arcctl-test-sshd-console")
