"""The doctor's "host key" line: is the key the profile's host presents in known_hosts? Checked
before logging in, so an unknown or changed key is its own ✗ with the command that fixes it
instead of a failed connection.

A direct host is asked for its key without logging in (nothing is trusted or added). A host
behind ProxyJump/ProxyCommand or reached through the system ssh cannot be asked directly: there
the login decides (`from_login`). So can a host whose known_hosts entries are of other key types
(the login negotiates a type it knows; a bare scan may get another one).
"""

from __future__ import annotations

from dataclasses import dataclass

from jobs.errors import RemoteError


@dataclass
class KeyVerdict:
    ok: bool | None  # None: could not tell without logging in
    detail: str = ""
    fix: str = ""


def _trust(alias: str, fp: str) -> str:
    return f"arcctl hosts {alias} --trust {fp}"


def _ssh(alias: str) -> str:
    """The ssh command line that logs into ALIAS: ssh takes no `host:port` nor brackets."""
    from jobs.openssh import destination

    try:
        return " ".join(["ssh", *destination(alias)])
    except RemoteError:
        return f"ssh {alias}"


def check_host_key(alias: str, timeout: float) -> KeyVerdict:
    from jobs.known_hosts import fingerprint, load_known_hosts, scan_host_key
    from jobs.ssh_config import parse_hop

    try:
        # a profile's host may be a hop (`root@[::1]:2222`), as `arcctl hosts --trust` reads it:
        # looked up whole as an alias, its key was asked of a host named `root@[::1]:2222`
        cfg = parse_hop(alias)
    except RemoteError:
        return KeyVerdict(None)  # the connection line reports the broken ssh config
    if cfg.transport != "paramiko" or cfg.proxy_jump or cfg.proxy_command:
        return KeyVerdict(None)
    try:
        key = scan_host_key(cfg, timeout=min(timeout, 10.0))
    except RemoteError:
        return KeyVerdict(None)  # unreachable: the connection line says why
    files = cfg.known_hosts + cfg.global_known_hosts
    known = load_known_hosts(files)
    fp, kind = fingerprint(key), key.get_name()
    where = ", ".join(files) or "known_hosts"
    if key.asbytes() in known.revoked:
        return KeyVerdict(
            False,
            f"{cfg.label} presents {kind} key {fp}, which known_hosts marks @revoked",
            "ask the host's admin why; do not connect until the host has a new key",
        )
    have = known.keys.lookup(cfg.known_hosts_key) or {}
    if kind in have and have[kind].asbytes() == key.asbytes():
        return KeyVerdict(True, f"{cfg.label}'s {kind} key {fp} is in {where}")
    if kind in have:
        return KeyVerdict(
            False,
            f"{cfg.label}'s {kind} key CHANGED: known_hosts has {fingerprint(have[kind])}, the host presents {fp}",
            f"verify {fp} with the admin, then `ssh-keygen -R '{cfg.known_hosts_key}'` and `{_trust(alias, fp)}`",
        )
    if have:
        return KeyVerdict(None)  # keys of other types are known: the login picks one of those
    return KeyVerdict(
        False,
        f"{cfg.label}'s {kind} key {fp} is not in {where}: ssh refuses an unknown host",
        f"verify {fp} with the host's admin, then `{_trust(alias, fp)}`",
    )


def from_login(alias: str, error: str | None) -> KeyVerdict:
    """The verdict when only the login could check the key: it worked, or failed on the key."""
    if error is None:
        return KeyVerdict(True, f"{alias}'s key is in known_hosts (checked at login)")
    if "host key" in error.lower():  # paramiko's and the system ssh's wording
        return KeyVerdict(False, error, f"verify the key with the host's admin, then `{_ssh(alias)}` once to add it")
    return KeyVerdict(None)
