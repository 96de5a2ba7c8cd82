"""Helpers for Pilot-driven tests: wait for what the app does in its workers."""

from __future__ import annotations

from typing import Any, Callable

from tests.pilot import until as _until


async def until(pilot: Any, cond: Callable[[], Any], timeout: float = 10.0) -> None:
    """tests.pilot.until with the dashboard tests' shorter default."""
    await _until(pilot, cond, timeout=timeout)


async def settle(pilot: Any, cond: Callable[[], Any], timeout: float = 5.0) -> None:
    """Wait for `cond` (no failure: a snapshot shows what went wrong), then for pending paints."""
    for _ in range(int(timeout / 0.05)):
        if cond():
            break
        await pilot.pause(0.05)
    await pilot.pause(0.2)
    await pilot.wait_for_scheduled_animations()
