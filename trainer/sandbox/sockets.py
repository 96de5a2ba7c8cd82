"""Non-blocking helpers for the zygote's control socket (parent side)."""

from __future__ import annotations

import array
import selectors
import socket


def recv_fds_nowait(sock: socket.socket, bufsize: int, maxfds: int) -> tuple[bytes, list[int]]:
    # socket.recv_fds ignores its flags argument (CPython 3.11), hence this copy.
    fds = array.array("i")
    msg, anc, _flags, _addr = sock.recvmsg(
        bufsize, socket.CMSG_LEN(maxfds * fds.itemsize), socket.MSG_DONTWAIT | socket.MSG_CMSG_CLOEXEC
    )
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return msg, list(fds)


def select_readable(sock: socket.socket, timeout: float) -> bool:
    sel = selectors.DefaultSelector()
    try:
        sel.register(sock, selectors.EVENT_READ)
        return bool(sel.select(max(0.0, timeout)))
    finally:
        sel.close()
