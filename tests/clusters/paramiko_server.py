"""An SSH server whose answers a test chooses: paramiko's server behind a real TCP listener and a
real handshake (the client's strict host-key check included), for what the real sshd never does
(list hostile names, refuse mid-walk, hang after the login). The host key is the loopback sshd's."""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import paramiko


class AcceptAll(paramiko.ServerInterface):
    """Takes any public key and opens every session channel."""

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


@contextmanager
def serving(
    sshd, tmp_path: Path, alias: str, server: Callable[[], paramiko.ServerInterface], sftp=None, extra: str = ""
) -> Iterator[Path]:
    """An ssh config (under TMP_PATH) whose host ALIAS is a server made by SERVER() per
    connection, with SFTP served by the paramiko.SFTPServerInterface class SFTP when given."""
    host_key = paramiko.Ed25519Key.from_private_key_file(str(Path(sshd.root) / "host_ed25519"))
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    port = lsock.getsockname()[1]
    transports: list[paramiko.Transport] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            t = paramiko.Transport(conn)
            t.add_server_key(host_key)
            if sftp is not None:
                t.set_subsystem_handler("sftp", paramiko.SFTPServer, sftp)
            t.start_server(server=server())
            transports.append(t)

    threading.Thread(target=serve, daemon=True).start()
    known = tmp_path / f"known_hosts_{alias}"
    known.write_text(f"[127.0.0.1]:{port} {host_key.get_name()} {host_key.get_base64()}\n")
    cfg = tmp_path / f"ssh_config_{alias}"
    cfg.write_text(
        f"Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {sshd.user_key}\n"
        f"  UserKnownHostsFile {known}\n{extra}"
    )
    try:
        yield cfg
    finally:
        lsock.close()
        for t in transports:
            t.close()
