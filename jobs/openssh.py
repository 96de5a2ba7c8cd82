"""Commands and files on a host through the system `ssh` binary, for hosts paramiko cannot log into:
keyboard-interactive/2FA logins and GSSAPI (Kerberos). Chosen per host by its ssh config (a
ControlPath or GSSAPIAuthentication, see jobs.ssh_config); SSHPool dispatches here.

With `ControlMaster auto` + `ControlPersist` in the user's config, the user opens the master once
(`ssh HOST`, typing the code), and every arcctl command rides on it without asking again: arcctl
runs ssh with BatchMode=yes, so it never hangs on a prompt; without a live master a 2FA host
fails with one line saying how to open it. Run dirs are read with small commands (stat, a byte
range with tail/head), so tails stay incremental as over SFTP.
"""

from __future__ import annotations

import io
import os
import posixpath
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Callable

from jobs.errors import RemoteError
from jobs.rundir import decimal_int
from jobs.ssh_answers import MAX_TEXT, LinkLoop, NotRegularFile, TooLarge
from jobs.ssh_config import check_host_name, ssh_config_path
from jobs.ssh_output import after_mark, marked


def destination(alias: str) -> list[str]:
    """ALIAS as ssh's command line takes it: `[user@]host` as is; a hop with a port or an IPv6
    address in brackets (`root@[::1]:2222`, what jobs.ssh_config.parse_hop reads) as `-l user -p
    port host` (ssh takes neither form, and its ssh:// URIs refuse brackets up to 9.2 at least)."""
    user, at, rest = alias.rpartition("@")
    if not (rest.startswith("[") or ":" in rest):
        return [alias]
    if rest.startswith("["):
        host, _, port = rest[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = rest.partition(":")
    check_host_name(host)  # after -l/-p a leading '-' would be read as an option
    return [*(["-l", user] if at else []), *(["-p", port] if port else []), host]


class OpenSSH:
    def __init__(self, config_path: str | Path | None = None, connect_timeout: float = 10.0):
        self.config_path = Path(config_path) if config_path else ssh_config_path()
        self.connect_timeout = connect_timeout

    def argv(self, alias: str, command: str) -> list[str]:
        ssh = shutil.which("ssh")
        if not ssh:
            raise RemoteError(
                f"{alias}: its ssh config needs the system ssh client (ControlPath or GSSAPI), "
                "and there is no `ssh` on PATH"
            )
        # ssh would read '-oProxyCommand=...' as an option, and run it
        check_host_name(alias)
        out = [ssh]
        if self.config_path.exists():
            out += ["-F", str(self.config_path)]
        return out + [
            "-o",
            "BatchMode=yes",
            "-o",
            f"ConnectTimeout={max(1, int(self.connect_timeout))}",
            "-T",
            *destination(alias),
            "--",
            marked(command),  # what the login prints comes before the mark (jobs.ssh_output)
        ]

    def exec(
        self, alias: str, command: str, input: str | None = None, timeout: float | None = 120
    ) -> tuple[int, str, str]:
        rc, out, err = self.exec_bytes(alias, command, input=input, timeout=timeout)
        return rc, out.decode("utf-8", errors="replace"), err

    def exec_bytes(
        self, alias: str, command: str, input: str | None = None, timeout: float | None = 120
    ) -> tuple[int, bytes, str]:
        """exec, with stdout as the bytes printed (file names that are not UTF-8)."""
        from jobs.scheduler_shell import MAX_OUTPUT, OutputLimit, run_bounded_bytes

        try:
            # bounded: what the host prints may be endless or not UTF-8 (jobs.scheduler_shell)
            rc, out, raw_err = run_bounded_bytes(self.argv(alias, command), input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            return 124, b"", f"timed out after {timeout} s"
        except OutputLimit:
            raise RemoteError(
                f"`{command[:80]}` on {alias} printed more than {MAX_OUTPUT // 2**20} MB; stopped it"
            ) from None
        except OSError as e:
            raise RemoteError(f"{alias}: cannot run ssh: {e.strerror or e}") from None
        err = raw_err.decode("utf-8", errors="replace")
        if rc == 255:  # ssh's own failure (the remote command's status otherwise)
            raise RemoteError(self._failure(alias, err))
        return rc, after_mark(out), err

    def _failure(self, alias: str, stderr: str) -> str:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else "ssh exited with 255"
        ssh = " ".join(["ssh", *destination(alias)])  # `ssh root@[::1]:2222` is no host to ssh
        hint = ""
        if "Permission denied" in last or "keyboard-interactive" in last:
            hint = (
                f"; if {alias} asks for a code (2FA), open the shared connection once with `{ssh}` "
                "(ControlMaster/ControlPersist in your ssh config keep it for arcctl)"
            )
        elif "Host key verification failed" in last:
            hint = f"; check the key with `{ssh}` (or `arcctl hosts {alias}`) and add it to known_hosts"
        return f"ssh to {alias} (system ssh) failed: {last}{hint}"

    def tar_stream(self, alias: str, command: str):
        """COMMAND's output as jobs.ssh_tar reads it (read with an idle limit, then close)."""
        from jobs.ssh_tar import ProcStream

        return ProcStream(self.argv(alias, command))

    def check(self, alias: str, command: str, input: str | None = None, timeout: float | None = 120) -> str:
        rc, out, err = self.exec(alias, command, input=input, timeout=timeout)
        if rc != 0:
            raise RemoteError(f"{alias}: `{command[:80]}` failed (exit {rc}): {err.strip()[-300:]}")
        return out

    # ------------------------------------------------------------------------------ files
    def write_text(self, alias: str, path: str, text: str, mode: int | None = None) -> None:
        tmp = path + ".tmp"
        steps = [f"mkdir -p {shlex.quote(posixpath.dirname(path) or '/')}", f"cat > {shlex.quote(tmp)}"]
        if mode is not None:
            steps.append(f"chmod {mode:o} {shlex.quote(tmp)}")
        steps.append(f"mv -f {shlex.quote(tmp)} {shlex.quote(path)}")
        self.check(alias, " && ".join(steps), input=text)

    def makedirs(self, alias: str, path: str) -> None:
        self.check(alias, f"mkdir -p {shlex.quote(path)}")

    def download_dir(
        self, alias: str, remote: str, partial: Path, on_bytes: Callable[[int], None] | None = None
    ) -> int:
        """Copy REMOTE into PARTIAL (a tar stream over one ssh command, at most the bytes its
        listing announces: jobs.ssh_tar); returns bytes copied."""
        from jobs.ssh_tar import download_tree

        return download_tree(self, alias, remote, partial, on_bytes)


# A named pipe, a device or a socket in a run dir would make `cat`/`tail` wait (or read) forever:
# the remote shell refuses anything but a regular file (a link to one is fine) with this code.
_NOT_REGULAR = 86


def _regular_only(quoted_path: str) -> str:
    return f"[ -f {quoted_path} ] || {{ [ -e {quoted_path} ] && exit {_NOT_REGULAR}; }}; "


# A link loop fails `test -e` and `stat` like a missing file: read as "not written yet", a tail
# waited for it forever. This prefix exits _LOOP when the path's links do not end within 40 hops.
_LOOP = 87


def _no_loop(q: str) -> str:
    return (
        f'[ -e {q} ] || {{ p={q}; n=0; while [ -L "$p" ] && [ $n -le 40 ]; do n=$((n+1)); t=$(readlink "$p"); '
        f'case $t in /*) p=$t;; *) p=$(dirname "$p")/$t;; esac; done; [ $n -gt 40 ] && exit {_LOOP}; }}; '
    )


_TOO_LARGE = 88
_NOT_DIR = 89


def _check_rc(alias: str, rc: int, path: str) -> None:
    if rc == _LOOP:
        raise LinkLoop(alias, path)
    if rc == _TOO_LARGE:
        raise TooLarge(path, MAX_TEXT)
    if rc == _NOT_REGULAR:
        raise NotRegularFile(path)


class _RangeFile(io.RawIOBase):
    """A remote file read by byte ranges: seek() is free, read(n) is one ssh command, or none when
    the range was read ahead. Reads that continue the previous one (forward, or backward as
    `arcctl logs` scans for the last newlines) fetch READ_AHEAD bytes in that direction: one 64 KB
    command after another took 100 s+ on a 256 MB log without a newline."""

    READ_AHEAD = 4 * 2**20

    def __init__(self, ssh: OpenSSH, alias: str, path: str):
        self.ssh, self.alias, self.path, self.pos = ssh, alias, path, 0
        self._last: tuple[int, int] | None = None  # the range asked for last
        self._have: tuple[int, bytes, bool] = (0, b"", False)  # offset, bytes, ended early (EOF then)

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0:
            raise io.UnsupportedOperation("only absolute seeks")
        self.pos = offset
        return offset

    def tell(self) -> int:
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            data = self._fetch(self.pos, None)
        else:
            lo, hi = self.pos, self.pos + n
            data = self._cached(lo, hi)
            if data is None:
                wlo, whi = lo, hi
                if self._last is not None and hi == self._last[0]:  # scanning backwards
                    wlo = max(0, hi - self.READ_AHEAD)
                elif self._last is not None and lo == self._last[1]:  # reading on
                    whi = lo + max(n, self.READ_AHEAD)
                got = self._fetch(wlo, whi - wlo)
                self._have = (wlo, got, len(got) < whi - wlo)
                data = got[lo - wlo : hi - wlo]
            self._last = (lo, hi)
        self.pos += len(data)
        return data

    def _cached(self, lo: int, hi: int) -> bytes | None:
        start, have, ended = self._have
        if start <= lo and (hi <= start + len(have) or (ended and lo < start + len(have))):
            return have[lo - start : hi - start]
        return None

    def _fetch(self, offset: int, n: int | None) -> bytes:
        q = shlex.quote(self.path)
        # opened by the shell first: `tail FILE | head` exits as head does, so a file removed since
        # its size was asked (a run dir deleted while `logs -f` reads it) read as b"", an end
        # of file, where SFTP says the file is gone; an open file is read whole even if removed
        cmd = (
            _no_loop(q)
            + _regular_only(q)
            + f"exec 3< {q} || exit 2; tail -c +{offset + 1} <&3"
            + (f" | head -c {n}" if n is not None else "")
        )
        # bounded as every command's output (a hostile host's `head` may not stop)
        rc, out, err = self.ssh.exec_bytes(self.alias, cmd, timeout=120)
        if rc == 124 and not out:  # was a traceback out of the reader
            raise RemoteError(f"{self.alias}: reading {self.path} timed out after 120 s")
        _check_rc(self.alias, rc, self.path)
        if rc != 0:
            raise FileNotFoundError(2, err.strip(), self.path)
        return out if n is None else out[:n]


class OpenSSHFS:
    """jobs.rundir.RunFS through the system ssh."""

    def __init__(self, ssh: OpenSSH, alias: str):
        self.ssh, self.alias = ssh, alias

    def _run(self, cmd: str, path: str) -> str:
        rc, out, err = self.ssh.exec(self.alias, _no_loop(shlex.quote(path)) + cmd)
        _check_rc(self.alias, rc, path)
        if rc != 0:
            raise FileNotFoundError(2, err.strip() or f"exit {rc}", path)
        return out

    def open_binary(self, path: str):
        return _RangeFile(self.ssh, self.alias, path)

    def size(self, path: str) -> int:
        # -L: a log that is a link to the file being written (`stdout.log -> /scratch/x.log`) was
        # the link's own size, the length of its target's name: `logs -f` never saw a new byte
        out = self._run(f"stat -L -c %s {shlex.quote(path)}", path).strip()
        # a hostile or broken `stat`: was a ValueError traceback (5000 digits one too, from int())
        size = decimal_int(out)
        if size is None:
            raise RemoteError(f"{self.alias}: `stat` of {path} printed {out[:80]!r}, not a size")
        return size

    def exists(self, path: str) -> bool:
        rc, _, _ = self.ssh.exec(self.alias, _no_loop(shlex.quote(path)) + f"test -e {shlex.quote(path)}")
        _check_rc(self.alias, rc, path)
        return rc == 0

    def listdir(self, path: str) -> list[str]:
        """Names NUL-separated (`ls -1A` split at newlines: a name with one read as two), as bytes
        decoded the way os.listdir does (a name that is not UTF-8 comes back to the same file)."""
        q = shlex.quote(path)
        not_dir = f"[ -d {q} ] || {{ [ -e {q} ] && exit {_NOT_DIR}; }}; "
        rc, out, err = self.ssh.exec_bytes(
            self.alias, _no_loop(q) + not_dir + f"find -H {q} -mindepth 1 -maxdepth 1 -print0"
        )
        _check_rc(self.alias, rc, path)
        if rc == _NOT_DIR:  # `ls` of a file listed the file: a folder of one entry
            raise NotADirectoryError(20, f"not a directory (on {self.alias})", path)
        if rc != 0:
            raise FileNotFoundError(2, err.strip() or f"exit {rc}", path)
        return [os.fsdecode(p.rpartition(b"/")[2]) for p in out.split(b"\0") if p]

    def read_text(self, path: str) -> str:
        q = shlex.quote(path)
        # a sparse 20 GB file was streamed up to the output limit before failing
        big = f'[ "$(stat -L -c %s {q})" -gt {MAX_TEXT} ] && exit {_TOO_LARGE}; '
        return self._run(_regular_only(q) + big + f"cat {q}", path)
