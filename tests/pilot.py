"""Waiting in Textual Pilot tests: poll a condition between short pauses of the app."""

from __future__ import annotations


async def until(pilot, cond, timeout: float = 30.0, step: float = 0.05) -> None:
    """Return as soon as `cond()` holds; fail after `timeout` seconds of app time (a loaded 2-core
    machine needs generous timeouts; a passing condition exits early)."""
    for _ in range(int(timeout / step)):
        if cond():
            return
        await pilot.pause(step)
    assert cond(), "condition not reached in time"
