"""Runs hooks for the engine and the access layer: blocking ones now, the others via the outbox.

The engine calls `check` (blocking: a refusal, failure or timeout raises, so the guarded step
never happens) and `notify` (non-blocking: the event is stored in the MetaStore's outbox and
delivered later by `upslice.hooks.outbox`, at least once, whatever the receiver's state).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable
from typing import Any

from upslice.hooks.base import EVENT_METHODS, Hooks
from upslice.hooks.events import (
    Decision,
    HookError,
    HookEvent,
    HookFailed,
    HookRefused,
    HookTimeout,
)
from upslice.record import OutboxEvent, Upload
from upslice.stores.base import MetaStore

log = logging.getLogger("upslice.hooks")
PROGRESS_INTERVAL = 1.0  # post-receive at most once a second per upload


class HookRunner:
    """`hooks` answer the `events` selected; every other event costs nothing."""

    def __init__(
        self, hooks: Hooks | None, events: Iterable[str], meta: MetaStore, timeout: float = 5.0
    ) -> None:
        self.hooks = hooks or Hooks()
        self.events = frozenset(events) if hooks is not None else frozenset()
        self.meta = meta
        self.timeout = timeout
        self.wake = asyncio.Event()  # set when this process appended to the outbox

    def wants(self, name: str) -> bool:
        return name in self.events

    async def check(self, name: str, upload: Upload | None, **details: Any) -> Decision:
        """Ask a blocking hook; raises HookRefused, HookFailed (502) or HookTimeout (503)."""
        if not self.wants(name):
            return Decision()
        event = HookEvent.of(name, upload, **details)
        method = getattr(self.hooks, EVENT_METHODS[name])
        try:
            decision = await asyncio.wait_for(method(event), self.timeout)
        except HookError:
            raise
        except TimeoutError:
            raise HookTimeout(
                f"the {name} hook did not answer within {self.timeout:g} s", hook=name
            ) from None
        except Exception as exc:
            log.exception("the %s hook failed", name)
            raise HookFailed(f"the {name} hook failed ({type(exc).__name__})", hook=name) from exc
        if not isinstance(decision, Decision | None):
            raise HookFailed(f"the {name} hook answered {type(decision).__name__}", hook=name)
        decision = decision or Decision()
        if decision.reject:
            log.info(
                "the %s hook refused %s: %s", name, upload.id if upload else "-", decision.message
            )
            raise HookRefused(decision.status, decision.message, hook=name)
        return decision

    async def before_create(self, upload: Upload) -> Upload:
        """pre-create: may refuse, or change the owner, file name or metadata."""
        decision = await self.check("pre-create", upload)
        changes: dict[str, Any] = {}
        if decision.sets_owner:
            changes["owner"] = decision.owner
        if decision.file_name is not None:
            changes["file_name"] = decision.file_name
        if decision.metadata is not None:
            changes["metadata"] = decision.metadata
        return upload.evolve(**changes) if changes else upload

    def outbox_events(
        self, name: str, upload: Upload, *, event_id: str | None = None
    ) -> list[OutboxEvent]:
        """The event to store with a state change (in the same transaction), if it is wanted.
        Call `queued()` once it is stored."""
        if not self.wants(name):
            return []
        event = HookEvent.of(name, upload, event_id=event_id)
        return [OutboxEvent(event.id, upload.id, name, event.encode())]

    def queued(self) -> None:
        """Events were stored: this process's deliverer looks now rather than at its next poll."""
        self.wake.set()

    async def notify(self, name: str, upload: Upload, *, event_id: str | None = None) -> None:
        """Keep a non-blocking event in the outbox; delivery happens apart from the request.
        A fixed `event_id` makes a redone step (after a crash) append it only once."""
        events = self.outbox_events(name, upload, event_id=event_id)
        if events:
            await self.meta.append_events(events)
            self.queued()

    async def progress(self, upload: Upload) -> None:
        """post-receive, throttled by a one-second lease so every process and node shares it."""
        if not self.wants("post-receive"):
            return
        turn = f"hooks-progress:{upload.id}"
        if await self.meta.acquire_lease(turn, secrets.token_hex(8), PROGRESS_INTERVAL):
            await self.notify("post-receive", upload)
