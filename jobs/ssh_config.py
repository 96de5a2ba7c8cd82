"""Hosts as the user's ~/.ssh/config describes them (paramiko's parser, so `Host` patterns, `%h`
tokens and `Match` work as far as paramiko supports them).

Honoured: HostName, Port, User, IdentityFile, IdentitiesOnly, UserKnownHostsFile,
GlobalKnownHostsFile, HostKeyAlias, ProxyJump (the whole chain), ProxyCommand, ConnectTimeout,
ServerAliveInterval, Compression. A host whose config sets a ControlPath (the usual setup for
keyboard-interactive/2FA logins) or GSSAPIAuthentication is reached through the system `ssh`
binary instead of paramiko, which can use neither (jobs.openssh).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from jobs.errors import RemoteError

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
        return f"{self.alias} ({user}{self.hostname}:{self.port})"

    @property
    def known_hosts_key(self) -> str:
        """The name known_hosts files list this host under (HostKeyAlias wins, as in OpenSSH)."""
        if self.host_key_alias:
            return self.host_key_alias
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


def _load(path: Path) -> paramiko.SSHConfig:
    if not path.exists():
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(str(path))
    except Exception as e:  # paramiko raises ConfigParseError and plain exceptions
        raise RemoteError(f"cannot parse ssh config {path}: {e}") from None


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
    try:
        d = _load(path).lookup(alias)
    except RemoteError:
        raise
    except Exception as e:  # token expansion or a Match it cannot evaluate
        raise RemoteError(f"ssh config {path}: cannot resolve host {alias}: {e}") from None

    def number(key: str, default):
        raw = d.get(key)
        if raw is None:
            return default
        try:
            return int(str(raw).strip())
        except ValueError:
            raise RemoteError(f"ssh config {path}: {key} of host {alias} is not a number: {raw!r}") from None

    port = number("port", 22)
    if not 0 < port < 65536:
        raise RemoteError(f"ssh config {path}: Port of host {alias} is out of range: {port}")
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
    return cfg


def list_host_aliases(config_path: str | Path | None = None) -> list[str]:
    """Concrete `Host` names of the ssh config (patterns such as `*` or `gpu-?` are left out)."""
    path = Path(os.path.expanduser(str(config_path))) if config_path else ssh_config_path()
    if not path.exists():
        return []
    return sorted(h for h in _load(path).get_hostnames() if not any(c in h for c in "*?!"))
