"""Hosts as the user's ~/.ssh/config describes them (paramiko's parser, so `Host` patterns, `%h`
tokens and `Match` work as far as paramiko supports them; `Include` as OpenSSH reads it,
jobs.ssh_include).

Honoured: HostName, Port, User, IdentityFile, IdentitiesOnly, UserKnownHostsFile,
GlobalKnownHostsFile, HostKeyAlias, ProxyJump (the whole chain), ProxyCommand, ConnectTimeout,
ServerAliveInterval, Compression. A host whose config sets a ControlPath (the usual setup for
keyboard-interactive/2FA logins) or GSSAPIAuthentication is reached through the system `ssh`
binary instead of paramiko, which can use neither (jobs.openssh).

Never run: `Match exec` (paramiko would run it through a shell with this host's name in its %h, on
every lookup, e.g. each `arcctl ls`): a host it would decide is one error naming the file. Host
names with shell syntax or a leading `-` are refused as OpenSSH refuses them on its command line:
they reach ProxyCommand's %h and the system ssh's argv.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from jobs.errors import RemoteError
from jobs.ssh_include import IncludingConfig, read_config, read_text

DEFAULT_CONFIG = "~/.ssh/config"
DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
DEFAULT_GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")


def ssh_config_path() -> Path:
    """ARCCTL_SSH_CONFIG overrides ~/.ssh/config (tests, or a project-specific config)."""
    return Path(os.path.expanduser(os.environ.get("ARCCTL_SSH_CONFIG") or DEFAULT_CONFIG))


@dataclass
class HostConfig:
    alias: str
    hostname: str
    port: int = 22
    user: str | None = None
    identity_files: list[str] = field(default_factory=list)
    identities_only: bool = False
    known_hosts: list[str] = field(default_factory=list)
    global_known_hosts: list[str] = field(default_factory=list)
    host_key_alias: str | None = None
    proxy_jump: list[str] = field(default_factory=list)  # hops in order: first is reached first
    proxy_command: str | None = None
    connect_timeout: float | None = None
    server_alive_interval: int = 0
    compression: bool = False
    transport: str = "paramiko"  # or "openssh" (ControlPath / GSSAPI hosts)
    config_path: str | None = None

    @property
    def label(self) -> str:
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname  # IPv6: [::1]:22
        return f"{self.alias} ({user}{host}:{self.port})"

    @property
    def known_hosts_key(self) -> str:
        """The name known_hosts files list this host under (HostKeyAlias wins, as in OpenSSH)."""
        if self.host_key_alias:
            return self.host_key_alias
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


# what OpenSSH's valid_hostname() refuses in a host name given on its command line
_NOT_IN_HOST = set("'`\"$\\;&<>|(){}")


def check_host_name(name: str, what: str = "ssh host") -> None:
    """RemoteError for a host (or `[user@]host[:port]` hop) that is shell syntax or an option:
    `-oProxyCommand=...` would be read as an option by ssh, and a ProxyCommand's %h puts the name
    into a command line."""
    if not name or name.startswith("-") or any(c in _NOT_IN_HOST or c.isspace() or not c.isprintable() for c in name):
        raise RemoteError(
            f"{what} {name!r} is not a host name (empty, a leading '-', blanks, control characters or "
            "one of ' ` \" $ \\ ; & < > | ( ) { })"
        )


def _cut(text: str, keep: int = 40) -> str:
    return text if len(text) <= keep else text[:keep] + "…"


def check_dns_name(name: str, hop: str) -> None:
    """RemoteError naming HOP when its host NAME can never be looked up: Python's socket layer
    encodes every name with the idna codec first, and a name past 253 characters or a label
    (between dots) past 63 or empty was `UnicodeError: encoding with 'idna' codec failed (label
    too long)`, quoting the whole name, at the first connection (a traceback in `arcctl hosts`'
    key scan)."""
    bare = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    try:
        ipaddress.ip_address(bare.partition("%")[0])  # an address (fe80::1%eth0 too): no DNS
        return
    except ValueError:
        pass
    what = f"ssh host {_cut(hop)!r}: host name {_cut(name)!r}" if name != hop else f"ssh host {_cut(hop)!r}"
    if len(name.rstrip(".")) > 253:
        raise RemoteError(f"{what} is {len(name)} characters, past the 253 a DNS name may have")
    for label in name.rstrip(".").split("."):
        try:
            size = len(label.encode("idna")) if label else 0
        except UnicodeError:
            size = 64  # one that punycode makes too long, or that idna refuses otherwise
        if not 0 < size <= 63:
            where = (
                "an empty label (two dots)" if not label else f"the label {_cut(label, 20)!r} ({len(label)} characters)"
            )
            raise RemoteError(f"{what} has {where}; a DNS label is 1 to 63 characters")


class _NoExecConfig(IncludingConfig):
    """paramiko's parser, except that a `Match exec` is never run: paramiko runs it through a
    shell (invoke) on every lookup, with %h/%n replaced by the looked-up name unquoted."""

    path: Path | None = None

    def _does_match(self, match_list, target_hostname, *args, **kwargs):
        execs = [c for c in match_list if c.get("type") == "exec"]
        if not execs:
            return super()._does_match(match_list, target_hostname, *args, **kwargs)
        others = [c for c in match_list if c.get("type") != "exec"]
        # the criteria are ANDed: when another one already fails, the block does not apply and the
        # command would not decide anything
        if others and not super()._does_match(others, target_hostname, *args, **kwargs):
            return False
        raise RemoteError(
            f"ssh config {self.path}: host {target_hostname} meets `Match exec {execs[0].get('param')}`, which "
            "arcctl never runs (a command from the ssh config, on every lookup); give the host a `Host` "
            "block of its own before that line"
        )


def _load(path: Path) -> paramiko.SSHConfig:
    # a named pipe would block the open until someone writes to it, a device never ends: refused
    text = read_text(path)
    config = _NoExecConfig()
    config.path = path
    if text is not None:
        read_config(config, path, text)  # with its Include files (jobs.ssh_include)
    return config


def _yes(value) -> bool:
    return str(value or "").strip().lower() in ("yes", "true")


def _files(value, default: tuple[str, ...]) -> list[str]:
    if value is None:
        items = list(default)
    elif isinstance(value, str):
        items = value.split()
    else:
        items = [w for v in value for w in str(v).split()]
    return [os.path.expanduser(p) for p in items if p.lower() != "none"]


def resolve_host(alias: str, config_path: str | Path | None = None) -> HostConfig:
    path = Path(os.path.expanduser(str(config_path))) if config_path else ssh_config_path()
    check_host_name(alias)
    try:
        d = _load(path).lookup(alias)
    except RemoteError:
        raise
    except Exception as e:  # token expansion or a Match it cannot evaluate
        raise RemoteError(f"ssh config {path}: cannot resolve host {alias}: {e}") from None

    def number(key: str, default, top: int = 2**31 - 1):
        raw = d.get(key)
        if raw is None:
            return default
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise RemoteError(f"ssh config {path}: {key} of host {alias} is not a number: {raw!r}") from None
        # a negative or astronomic timeout was "ValueError: Timeout value out of range" or an
        # OverflowError from the socket layer, naming neither the file nor the setting
        if not 0 <= value <= top:
            raise RemoteError(f"ssh config {path}: {key} of host {alias} is out of range (0 to {top}): {value}")
        return value

    port = number("port", 22, 65535)
    if not port:
        raise RemoteError(f"ssh config {path}: port of host {alias} is out of range (1 to 65535): 0")
    jump = str(d.get("proxyjump") or "").strip()
    command = str(d.get("proxycommand") or "").strip()
    control = str(d.get("controlpath") or "").strip()
    openssh = (control and control.lower() != "none") or _yes(d.get("gssapiauthentication"))
    return HostConfig(
        alias=alias,
        hostname=d.get("hostname", alias),
        port=port,
        user=d.get("user") or os.environ.get("USER") or None,
        identity_files=[os.path.expanduser(p) for p in d.get("identityfile", [])],
        identities_only=_yes(d.get("identitiesonly")),
        known_hosts=_files(d.get("userknownhostsfile"), DEFAULT_KNOWN_HOSTS),
        global_known_hosts=_files(d.get("globalknownhostsfile"), DEFAULT_GLOBAL_KNOWN_HOSTS),
        host_key_alias=d.get("hostkeyalias") or None,
        proxy_jump=[] if not jump or jump.lower() == "none" else [h.strip() for h in jump.split(",") if h.strip()],
        proxy_command=None if not command or command.lower() == "none" else command,
        connect_timeout=number("connecttimeout", None),
        server_alive_interval=number("serveraliveinterval", 0),
        compression=_yes(d.get("compression")),
        transport="openssh" if openssh else "paramiko",
        config_path=str(path),
    )


def parse_hop(hop: str, config_path: str | Path | None = None) -> HostConfig:
    """One host of a ProxyJump list or an alias: `[user@]host[:port]`, looked up in the config."""
    check_host_name(hop)
    user, _, rest = hop.rpartition("@")
    if rest.startswith("["):  # [ipv6]:port
        name, _, port = rest[1:].partition("]")
        port = port.lstrip(":")
    else:
        name, _, port = rest.partition(":")
    if not name:
        raise RemoteError(f"ssh host {hop!r}: no host name")
    cfg = resolve_host(name, config_path)
    if user:
        cfg.user = user
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise RemoteError(f"ssh host {hop!r}: port {port!r} is not a port number")
        cfg.port = int(port)
    cfg.alias = hop
    check_dns_name(cfg.hostname, hop)
    return cfg


def list_host_aliases(config_path: str | Path | None = None) -> list[str]:
    """Concrete `Host` names of the ssh config (patterns such as `*` or `gpu-?` are left out)."""
    path = Path(os.path.expanduser(str(config_path))) if config_path else ssh_config_path()
    if not path.exists():
        return []
    return sorted(h for h in _load(path).get_hostnames() if not any(c in h for c in "*?!"))
