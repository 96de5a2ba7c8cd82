"""`Include` in ssh configs, read as OpenSSH reads it (paramiko's parser keeps the keyword as an
unknown option and never opens the files, so hosts defined in ~/.ssh/config.d/* were unknown).

As in ssh_config(5): each argument may hold glob wildcards and `~`; a relative one is under ~/.ssh
(arcctl reads user configs only); matches are read in lexical order, a pattern that matches
nothing is skipped, and so is a file that vanished in between. An Include inside a Host or Match
block applies only where that block does: every block of the included file carries the blocks it
sits in (`within`) and applies only when they all match. Refused, as one line naming the file and
the line that included it: a file that includes itself (OpenSSH recurses to its depth limit), more
than 16 levels, a file that is not regular (a pipe would block every lookup) or cannot be read, and
one that another user can write (OpenSSH's "Bad owner or permissions": it can name a ProxyCommand).
"""

from __future__ import annotations

import glob
import os
import shlex
import stat
from pathlib import Path
from typing import Any

import paramiko

from jobs.errors import RemoteError

MAX_DEPTH = 16  # OpenSSH's READCONF_MAX_DEPTH
MAX_BYTES = 16 * 2**20  # a config file past this is no config: refused, not read into memory


class IncludingConfig(paramiko.SSHConfig):
    """paramiko's SSHConfig whose blocks may carry `within` (the Host/Match blocks an Include sat
    in): a block applies only when those match too."""

    def _lookup(self, hostname, options=None, canonical=False, final=False):  # noqa: ANN001
        # paramiko's own loop, with the `within` condition added
        if options is None:
            options = paramiko.SSHConfigDict()
        for context in self._config:
            if not all(
                self._applies(c, hostname, canonical, final, options) for c in (*context.get("within", ()), context)
            ):
                continue
            for key, value in context["config"].items():
                if key not in options:
                    options[key] = value[:] if value is not None else value
                elif key == "identityfile":
                    options[key].extend(x for x in value if x not in options[key])
        if final:
            options = self._expand_variables(options, hostname)
        return options

    def _applies(self, context: dict, hostname: str, canonical: bool, final: bool, options: Any) -> bool:
        return bool(
            self._pattern_matches(context.get("host", []), hostname)
            or self._does_match(context.get("matches", []), hostname, canonical, final, options)
        )


def read_config(config: IncludingConfig, path: Path, text: str) -> None:
    """Parse TEXT (the file PATH) into CONFIG, its Includes read in place."""
    _read(config, path, text, within=[], chain=[os.path.realpath(path)])


def _read(config: IncludingConfig, path: Path, text: str, within: list[dict], chain: list[str]) -> None:
    header: str | None = None  # the Host/Match line of the block being read
    chunk: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        m = paramiko.SSHConfig.SETTINGS_REGEX.match(line) if line and not line.startswith("#") else None
        key = m.group(1).lower() if m else ""
        if key in ("host", "match"):
            _flush(config, path, header, chunk, within)
            header, chunk = line, []
        elif key == "include":
            assert m is not None
            _flush(config, path, header, chunk, within)
            chunk = []
            inner = within + ([_header_context(path, header)] if header else [])
            for name in _expand(m.group(2), path, lineno):
                _include(config, Path(name), f"{path} line {lineno}", inner, chain)
        else:
            chunk.append(raw)
    _flush(config, path, header, chunk, within)


def _expand(value: str, path: Path, lineno: int) -> list[str]:
    try:
        args = shlex.split(value)
    except ValueError as e:
        raise RemoteError(f"ssh config {path} line {lineno}: Include {value!r}: {e}") from None
    out: list[str] = []
    for arg in args:
        if not arg.startswith(("/", "~")):
            arg = "~/.ssh/" + arg
        out += sorted(glob.glob(os.path.expanduser(arg)))
    return out


def _include(config: IncludingConfig, path: Path, where: str, within: list[dict], chain: list[str]) -> None:
    real = os.path.realpath(path)
    if real in chain:
        loop = " -> ".join([*chain[chain.index(real) :], real])
        raise RemoteError(f"ssh config {path} (included from {where}) includes itself: {loop}")
    if len(chain) > MAX_DEPTH:
        raise RemoteError(f"ssh config {path} (included from {where}): more than {MAX_DEPTH} levels of Include")
    text = read_text(path, f" (included from {where})", own=True)
    if text is not None:
        _read(config, path, text, within, [*chain, real])


def read_text(path: Path, where: str = "", own: bool = False) -> str | None:
    """The file's text; None when it is not there (skipped, as OpenSSH does). OWN: refuse a file
    another user owns or can write (OpenSSH's check on included files)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once instead of waiting
    except FileNotFoundError:
        return None
    except OSError as e:
        raise RemoteError(f"cannot read ssh config {path}{where}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RemoteError(f"ssh config {path}{where} is not a regular file")
        if own and (st.st_uid not in (0, os.getuid()) or st.st_mode & 0o022):
            raise RemoteError(
                f"ssh config {path}{where}: bad owner or permissions (another user can write it; "
                f"`chmod go-w {path}`), as OpenSSH refuses it"
            )
        if st.st_size > MAX_BYTES:
            raise RemoteError(f"ssh config {path}{where} is larger than {MAX_BYTES // 2**20} MB")
        os.set_blocking(fd, True)
        with open(fd, encoding="utf-8", errors="replace", closefd=False) as f:
            return f.read(MAX_BYTES + 1)
    except OSError as e:
        raise RemoteError(f"cannot read ssh config {path}{where}: {e.strerror or e}") from None
    finally:
        os.close(fd)


def _flush(config: IncludingConfig, path: Path, header: str | None, lines: list[str], within: list[dict]) -> None:
    if header is None and not any(line.strip() and not line.strip().startswith("#") for line in lines):
        return
    part = paramiko.SSHConfig()
    try:
        part.parse([header, *lines] if header else lines)
    except Exception as e:  # paramiko raises ConfigParseError and plain exceptions
        raise RemoteError(f"cannot parse ssh config {path}: {e}") from None
    for context in part._config:
        if header is not None and context.get("host") == ["*"] and not context["config"] and "matches" not in context:
            continue  # the empty implicit block paramiko starts every parse with
        if within:
            context["within"] = within
        config._config.append(context)


def _header_context(path: Path, header: str) -> dict:
    part = paramiko.SSHConfig()
    try:
        part.parse([header])
    except Exception as e:  # noqa: BLE001
        raise RemoteError(f"cannot parse ssh config {path}: {e}") from None
    return part._config[-1]
