"""The uid/gid that workers switch to when the sandbox is started by root: one no account has.

65534 ("nobody") was used before: the host's own `nobody` processes (and NFS's squashed files) share
it, and such a process could signal the workers. The id is picked at start, from the top of the
16-bit range that systemd leaves unused (65520-65533, between its dynamic users and `nobody`; the
user namespaces of rootless containers commonly map 0-65535, so the switch still works there):
the first one that no line of /etc/passwd or /etc/group, no name service lookup and no running
process has. Where all are taken, `nobody` as before, and `protections()["uid"]` says so.
"""

from __future__ import annotations

import grp
import os
import pwd

CANDIDATES = tuple(range(65533, 65519, -1))
NOBODY = 65534
ZYGOTE_MODULE = b"trainer.sandbox.zygote"  # in the command line of every sandbox process


def ids_in(path: str) -> set[int]:
    """The numeric ids (third field) in a passwd- or group-format file; empty if unreadable."""
    out = set()
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                field = line.split(":")[2:3]
                if field and field[0].strip().isdigit():
                    out.add(int(field[0]))
    except OSError:
        pass
    return out


def process_uids(proc: str = "/proc") -> set[int]:
    """Owners of the processes running now (read before /proc is hidden), but for other sandboxes'
    workers: every sandbox on the host picks the same id, as they all used 65534 before."""
    out = set()
    try:
        names = os.listdir(proc)
    except OSError:
        return out
    for name in names:
        if name.isdigit():
            try:
                uid = os.stat(os.path.join(proc, name)).st_uid
                if uid in CANDIDATES and _is_sandbox(os.path.join(proc, name)):
                    continue
                out.add(uid)
            except OSError:
                pass
    return out


def _is_sandbox(pid_dir: str) -> bool:
    with open(os.path.join(pid_dir, "cmdline"), "rb") as f:
        return ZYGOTE_MODULE in f.read(4096)


def _known(lookup, i: int) -> bool:
    try:
        lookup(i)
    except KeyError:
        return False
    except Exception:  # noqa: BLE001 - a broken name service: treat the id as taken
        return True
    return True


def unused_id(passwd: str = "/etc/passwd", group: str = "/etc/group", proc: str = "/proc") -> int | None:
    """The first of CANDIDATES that nobody has as a uid or gid; None if every one is taken."""
    taken = ids_in(passwd) | ids_in(group) | process_uids(proc)
    for i in CANDIDATES:
        if i not in taken and not _known(pwd.getpwuid, i) and not _known(grp.getgrgid, i):
            return i
    return None
