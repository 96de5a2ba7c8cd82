"""Shell completion (typer's `--install-completion`) for template, profile and job names.

Completion runs on every <TAB>: it reads file names and one registry query, never parses a
template, never creates a registry, and never fails (a broken config completes nothing)."""

from __future__ import annotations

MAX_JOBS = 200  # newest jobs offered; older ones can still be typed


def complete_template(incomplete: str) -> list[str]:
    try:
        from jobs.templates import template_names

        return [n for n in template_names() if n.startswith(incomplete)]
    except Exception:  # noqa: BLE001 - completion must never break the shell
        return []


def complete_profile(incomplete: str) -> list[str]:
    try:
        from jobs.templates import profile_names

        return [n for n in profile_names() if n.startswith(incomplete)]
    except Exception:  # noqa: BLE001
        return []


def complete_job(incomplete: str) -> list[tuple[str, str]]:
    """Job ids and names (newest first), each with the other as its help text."""
    try:
        from jobs import config

        if not config.registry_path().exists():
            return []
        from jobs.registry import Registry

        reg = Registry()
        try:
            rows = reg.rows(("id", "name", "state"), None, MAX_JOBS)
        finally:
            reg.close()
    except Exception:  # noqa: BLE001
        return []
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for jid, name, state in rows:
        for value, other in ((jid, f"{name} ({state})"), (name, f"{jid} ({state})")):
            if value and value.startswith(incomplete) and value not in seen:
                seen.add(value)
                out.append((value, other))
    return out
