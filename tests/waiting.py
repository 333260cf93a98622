"""Waiting for a condition with a deadline: how tests synchronise with a server, never sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx

POLL = 0.02  # seconds between checks: short, since the condition is what ends the wait


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    """Return once `condition()` holds; fail the test, naming `what`, after `seconds`.

    The deadline is generous because CI machines are slow and shared; a passing run ends as
    soon as the condition holds, so it costs nothing there.
    """
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")
        time.sleep(POLL)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """`wait_for` inside a test's event loop: poll the coroutine `check` until it holds, and
    fail after `within` seconds (generous: CI is loaded)."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        await asyncio.sleep(POLL)


def in_flight(url: str) -> int:
    """The server's requests in flight, counting the /health request that asks."""
    gauge: int = httpx.get(f"{url}/health", timeout=10).json()["counters"]["requests_in_flight"]
    return gauge


def wait_past(moment: str, what: str) -> None:
    """Wait until the wall clock passes `moment`, an ISO 8601 time the server gave (an expiry):
    the condition itself, rather than a pause guessed to be long enough."""
    at = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    wait_for(lambda: datetime.now(UTC) > at, what)
