"""Delivers the outbox: non-blocking events, at least once, in order per upload.

Every process runs `deliver_forever`; the `hooks` lease lets one of them deliver at a time
(another takes over within a lease's life if it dies). An event that fails is retried with
exponential backoff, and the events after it for the same upload wait, so a receiver sees
each upload's events in the order they happened. A receiver may see an event twice (a crash
between sending and forgetting it): `id` is the same both times.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from upslice.hooks.base import EVENT_METHODS, Hooks
from upslice.hooks.events import HookEvent
from upslice.stores.base import MetaStore

log = logging.getLogger("upslice.hooks")
FIRST_RETRY = 0.25  # seconds; doubles per failed attempt
LAST_RETRY = 30.0
BATCH = 200


class LeaseHolder(Protocol):
    def holding(self, name: str) -> AbstractAsyncContextManager[Any]: ...


def backoff(attempts: int) -> float:
    """Seconds before attempt `attempts + 1` (`attempts` failed so far)."""
    return float(min(LAST_RETRY, FIRST_RETRY * 2**attempts))


class Outbox:
    def __init__(
        self,
        meta: MetaStore,
        hooks: Hooks,
        leases: LeaseHolder,
        *,
        wake: asyncio.Event,
        timeout: float,
        poll: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.meta = meta
        self.hooks = hooks
        self.leases = leases
        self.wake = wake
        self.timeout = timeout
        self.poll = poll
        self.clock = clock

    async def deliver_forever(self) -> None:
        while True:
            try:
                async with self.leases.holding("hooks") as held:
                    while held is not None and not held.lost:
                        if await self.drain() < BATCH:
                            await self._idle(self.poll)
                if held is None:  # another process delivers; be ready to take over
                    await self._idle(self.poll * 3)
            except Exception:
                log.exception("hook outbox delivery failed; trying again")
                await asyncio.sleep(self.poll)

    async def _idle(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)
        self.wake.clear()

    async def drain(self) -> int:
        """One pass over the oldest events; returns how many were tried."""
        events = await self.meta.pending_events(BATCH)
        tried = 0
        waiting: set[str] = set()  # uploads whose earlier event has not gone out yet
        now = self.clock()
        for stored in events:
            if stored.upload_id in waiting:
                continue
            if stored.next_attempt_at is not None and stored.next_attempt_at > now:
                waiting.add(stored.upload_id)
                continue
            event = HookEvent.decode(stored.payload)
            tried += 1
            try:
                method = getattr(self.hooks, EVENT_METHODS[stored.name])
                await asyncio.wait_for(method(event), self.timeout)
            except Exception as exc:
                delay = backoff(stored.attempts)
                log.warning(
                    "hook %s for upload %s failed (attempt %d), retrying in %.1f s: %s",
                    stored.name,
                    stored.upload_id,
                    stored.attempts + 1,
                    delay,
                    str(exc) or type(exc).__name__,
                )
                retry_at = self.clock() + timedelta(seconds=delay)
                await self.meta.event_failed(stored.id, retry_at, str(exc)[:500])
                waiting.add(stored.upload_id)
                continue
            await self.meta.event_delivered(stored.id)
        return tried
