"""The `Hooks` protocol: one async method per event. Subclass it for Python hooks
(`create_app(..., hooks=MyHooks())`); the HTTP and command deliveries implement it too.
"""

from __future__ import annotations

from upslice.hooks.events import EVENTS, Decision, HookEvent


class Hooks:
    """Override the events you want; the others allow (blocking) or do nothing.

    A blocking method answers a `Decision` (None allows); raising fails the request with 502.
    A non-blocking method that raises is retried later from the outbox, so it may run again
    for the same `event.id`.
    """

    async def pre_access(self, event: HookEvent) -> Decision | None:
        return None

    async def pre_create(self, event: HookEvent) -> Decision | None:
        return None

    async def pre_finish(self, event: HookEvent) -> Decision | None:
        return None

    async def pre_terminate(self, event: HookEvent) -> Decision | None:
        return None

    async def post_create(self, event: HookEvent) -> None:
        return None

    async def post_receive(self, event: HookEvent) -> None:
        return None

    async def post_finish(self, event: HookEvent) -> None:
        return None

    async def post_terminate(self, event: HookEvent) -> None:
        return None

    async def post_expire(self, event: HookEvent) -> None:
        return None

    async def close(self) -> None:
        """Release connections when the app stops."""

    def handles(self) -> set[str]:
        """The events this object implements: the methods a subclass overrides."""
        return {
            name
            for name in EVENT_METHODS
            if getattr(type(self), EVENT_METHODS[name]) is not getattr(Hooks, EVENT_METHODS[name])
        }


EVENT_METHODS = {name: name.replace("-", "_") for name in EVENTS}


class Delivery(Hooks):
    """Hooks that send every event the same way (HTTP, a command): one `deliver` method."""

    # What it gets without --hooks-events: None is every event it handles.
    default_events: frozenset[str] | None = None

    def handles(self) -> set[str]:
        return set(EVENTS)

    async def deliver(self, event: HookEvent) -> Decision:
        raise NotImplementedError

    async def pre_access(self, event: HookEvent) -> Decision | None:
        return await self.deliver(event)

    async def pre_create(self, event: HookEvent) -> Decision | None:
        return await self.deliver(event)

    async def pre_finish(self, event: HookEvent) -> Decision | None:
        return await self.deliver(event)

    async def pre_terminate(self, event: HookEvent) -> Decision | None:
        return await self.deliver(event)

    async def post_create(self, event: HookEvent) -> None:
        await self.deliver(event)

    async def post_receive(self, event: HookEvent) -> None:
        await self.deliver(event)

    async def post_finish(self, event: HookEvent) -> None:
        await self.deliver(event)

    async def post_terminate(self, event: HookEvent) -> None:
        await self.deliver(event)

    async def post_expire(self, event: HookEvent) -> None:
        await self.deliver(event)
