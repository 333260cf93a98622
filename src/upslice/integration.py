"""Wires hooks, auth and signed download URLs into an app: the part of `create_app` that
decides who may touch uploads and who hears about them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from upslice.auth.access import Access, Identify
from upslice.auth.signed import UrlSigner, signing_key
from upslice.engine import Engine
from upslice.hooks.base import Hooks
from upslice.hooks.context import HookContext
from upslice.hooks.outbox import Outbox
from upslice.hooks.runner import HookRunner
from upslice.hooks.wiring import hooks_from, selected_events
from upslice.settings import Settings

log = logging.getLogger("upslice.hooks")


def install(
    app: FastAPI, engine: Engine, settings: Settings, identify: Identify, hooks: Hooks | None
) -> Outbox | None:
    """Set up access control and hooks on `app`; returns the outbox to run, if any."""
    delivery = hooks_from(settings, hooks)
    outbox = None
    if delivery is not None:
        events = selected_events(settings, delivery)
        engine.hooks = HookRunner(delivery, events, engine.meta, settings.hooks_timeout)
        outbox = Outbox(
            engine.meta,
            delivery,
            engine.leases,
            wake=engine.hooks.wake,
            timeout=settings.hooks_timeout,
        )
        app.add_middleware(HookContext)
        log.info(
            "hooks: %s for %s", type(delivery).__name__, ", ".join(sorted(events)) or "no event"
        )
    tokens = None
    if settings.auth == "jwt":
        from upslice.auth.tokens import TokenVerifier  # PyJWT loads only when it is used

        tokens = TokenVerifier.from_settings(settings)
    app.state.access = Access(identify, tokens=tokens, hooks=engine.hooks, meta=engine.meta)
    app.state.signer = UrlSigner(signing_key(settings), settings.download_url_seconds)
    return outbox


@contextlib.asynccontextmanager
async def delivering(outbox: Outbox | None) -> AsyncIterator[None]:
    """Run the outbox's delivery loop for the app's lifetime."""
    if outbox is None:
        yield
        return
    task = asyncio.create_task(outbox.deliver_forever())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await outbox.hooks.close()
