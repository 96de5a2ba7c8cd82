"""Landlock file-system (and, where supported, TCP and signal) confinement via raw syscalls.

The ruleset is built once in the zygote (allowed: read-only access to the Python installation,
site-packages and the helper library; read/write to the worker's private temp directory, which
Landlock rules cannot name ahead of time, so it lives under a per-zygote directory); each forked
worker only calls landlock_restrict_self on the inherited ruleset fd.
"""

from __future__ import annotations

import ctypes
import os
import struct

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def abi_version() -> int:
    v = _libc.syscall(
        ctypes.c_long(SYS_CREATE_RULESET), None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION)
    )
    return int(v) if v > 0 else 0


def _handled_fs(abi: int) -> int:
    mask = (1 << 13) - 1  # ABI 1: bits 0..12
    if abi >= 2:
        mask |= REFER
    if abi >= 3:
        mask |= TRUNCATE
    if abi >= 5:
        mask |= IOCTL_DEV
    return mask


def create_ruleset(read_paths: list[str], write_paths: list[str]) -> tuple[int | None, str]:
    """Return (ruleset fd, description) or (None, reason)."""
    abi = abi_version()
    if abi < 1:
        return None, "Landlock not supported by this kernel"
    handled = _handled_fs(abi)
    net = (NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0
    if abi >= 6:
        attr = struct.pack("=QQQ", handled, net, scoped)
    elif abi >= 4:
        attr = struct.pack("=QQ", handled, net)
    else:
        attr = struct.pack("=Q", handled)
    buf = ctypes.create_string_buffer(attr, len(attr))
    fd = _libc.syscall(ctypes.c_long(SYS_CREATE_RULESET), buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if fd < 0:
        return None, f"landlock_create_ruleset failed: {os.strerror(ctypes.get_errno())}"
    read_dir = READ_FILE | READ_DIR
    write_dir = read_dir | (handled & (WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | TRUNCATE | REFER))
    for paths, access in ((read_paths, read_dir), (write_paths, write_dir)):
        for path in paths:
            _add_path(fd, path, access)
    parts = [
        f"ABI {abi}: reads limited to the Python installation and libraries",
        "writes only in the private temp dir",
    ]
    if net:
        parts.append("no TCP bind/connect")
    if scoped:
        parts.append("no signals or abstract sockets outside the sandbox")
    return fd, "; ".join(parts)


def _add_path(ruleset_fd: int, path: str, access: int) -> None:
    try:
        pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            access &= FILE_ONLY
        attr = struct.pack("=Qi", access, pfd)
        buf = ctypes.create_string_buffer(attr, len(attr))
        rc = _libc.syscall(
            ctypes.c_long(SYS_ADD_RULE),
            ctypes.c_int(ruleset_fd),
            ctypes.c_int(RULE_PATH_BENEATH),
            buf,
            ctypes.c_uint32(0),
        )
        if rc != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}")
    finally:
        os.close(pfd)


def restrict_self(ruleset_fd: int) -> None:
    """Enforce the ruleset on this process (needs no_new_privs, set here)."""
    if _libc.prctl(38, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    rc = _libc.syscall(ctypes.c_long(SYS_RESTRICT_SELF), ctypes.c_int(ruleset_fd), ctypes.c_uint32(0))
    if rc != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self")
