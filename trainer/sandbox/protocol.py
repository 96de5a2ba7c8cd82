"""Length-prefixed JSON frames over a stream socket (parent <-> worker).

JSON, never pickle: the worker side runs untrusted code, so nothing it sends may execute
anything when decoded, and every frame is size-capped before it is buffered.
"""

from __future__ import annotations

import json
import socket
import struct

_HEADER = struct.Struct("!I")
# The largest task frame a worker reads (program source as JSON, plus its input grids once); the
# parent refuses a longer program itself instead of sending it (the worker would die reading it).
MAX_TASK_BYTES = 64 * 1024 * 1024


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed, small enough frame."""


_ENCODER = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps makes one per call


def encode(obj) -> bytes:
    return frame_bytes(_ENCODER.encode(obj).encode())


def frame_bytes(data: bytes) -> bytes:
    return _HEADER.pack(len(data)) + data


def send(sock: socket.socket, obj) -> None:
    sock.sendall(encode(obj))


class BlockingReader:
    """Frames from a blocking socket with as few recv calls as possible (usually one)."""

    def __init__(self, sock: socket.socket, max_bytes: int):
        self.sock, self.max_bytes, self.buf = sock, max_bytes, bytearray()

    def next(self):
        while True:
            if len(self.buf) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(self.buf)
                if size > self.max_bytes:
                    raise ProtocolError(f"frame of {size} bytes exceeds {self.max_bytes}")
                end = _HEADER.size + size
                if len(self.buf) >= end:
                    payload = bytes(self.buf[_HEADER.size : end])
                    del self.buf[:end]
                    return json.loads(payload)
            chunk = self.sock.recv(max(65536, _HEADER.size + (len(self.buf) and 0)))
            if not chunk:
                raise EOFError("peer closed the connection")
            self.buf += chunk


class FrameReader:
    """Incremental, non-blocking frame reader with a hard size cap (parent side)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.buf = bytearray()

    def feed(self, data: bytes) -> list:
        self.buf += data
        frames = []
        while len(self.buf) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self.buf)
            if size > self.max_bytes:
                raise ProtocolError(f"frame of {size} bytes exceeds the {self.max_bytes} byte cap")
            if len(self.buf) < _HEADER.size + size:
                break
            payload = bytes(self.buf[_HEADER.size : _HEADER.size + size])
            del self.buf[: _HEADER.size + size]
            try:
                frames.append(json.loads(payload))
            except (ValueError, RecursionError) as e:
                raise ProtocolError(f"undecodable frame: {e}") from None
        return frames
