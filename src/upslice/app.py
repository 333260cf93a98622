"""The ASGI application factory: standalone, or mounted into a host FastAPI/Starlette app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI

from upslice import __version__
from upslice.api import flow, forms, tasks, tus
from upslice.api.browser import mount_browser
from upslice.api.cors import CorsMiddleware, is_loopback
from upslice.api.errors import install_error_handlers
from upslice.api.identity import Identify, anonymous
from upslice.api.inflight import InFlight
from upslice.api.inspector import RequestLog, mount_inspector
from upslice.api.observing import Exchange, ObservingMiddleware
from upslice.api.scrape import mount_metrics
from upslice.chaos import ChaosConfig, ChaosKnobs, ChaosMiddleware
from upslice.hooks.base import Hooks
from upslice.integration import delivering, install
from upslice.settings import Settings
from upslice.sweeper import sweep_forever
from upslice.wiring import build_engine


def inspector_enabled(settings: Settings, loopback: bool) -> bool:
    """Off loopback the inspector is never on by default, and never without a token."""
    if settings.inspector == "off":
        return False
    if settings.inspector == "auto":
        return settings.demo and loopback
    if not loopback and not settings.inspector_token:
        raise ValueError("--inspector on off loopback needs --inspector-token")
    return True


def create_app(
    settings: Settings | None = None,
    *,
    identify: Identify = anonymous,
    hooks: Hooks | None = None,
) -> FastAPI:
    """Build the upslice ASGI app. `identify(request)` names the owner of each request;
    `hooks` (a `upslice.hooks.Hooks` subclass) hears about uploads and may refuse them.

    When mounting into another app, pass this app's `router.lifespan_context` to the host's
    lifespan so that stores open and the expiry sweeper runs.
    """
    settings = settings or Settings()
    engine = build_engine(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        await engine.open()
        sweeper = asyncio.create_task(sweep_forever(engine, settings.sweep_interval_seconds))
        try:
            async with delivering(outbox):
                yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await engine.close()

    app = FastAPI(
        title="upslice",
        version=__version__,
        summary="Resumable, chunked file uploads",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.identify = identify
    outbox = install(app, engine, settings, identify, hooks)
    install_error_handlers(app)
    app.include_router(tasks.router)
    app.include_router(tus.router)
    app.include_router(flow.router)
    app.include_router(forms.router)
    mount_browser(app, demo=settings.demo)

    @app.get("/health", tags=["operations"], summary="Liveness and store names")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "dataStore": engine.data.name,
            "counters": {**engine.counters, **engine.data.stats()},
        }

    app.add_middleware(InFlight, counters=engine.counters)  # requests_in_flight, in /health
    loopback = is_loopback(settings.host)
    inspecting = inspector_enabled(settings, loopback)
    knobs = ChaosKnobs(ChaosConfig.parse(settings.chaos) if settings.chaos else ChaosConfig())
    if settings.chaos:
        logging.getLogger("upslice.chaos").warning(
            "CHAOS MODE ON: chunk requests will fail, stall and be cut (%s). "
            "Never run this in production.",
            knobs.config.describe(),
        )
    if settings.chaos or inspecting:  # the inspector switches chaos on and off at runtime
        app.add_middleware(ChaosMiddleware, config=knobs)
    watchers: list[Callable[[Exchange], None]] = []
    if inspecting:
        requests = RequestLog()
        watchers.append(requests.watch)
        mount_inspector(app, token=settings.inspector_token, knobs=knobs, log=requests)
    if settings.metrics_listen is None and (loopback or settings.metrics_token):
        mount_metrics(app, token=settings.metrics_token)
    app.add_middleware(
        CorsMiddleware,
        origins=settings.cors_origins,
        loopback=loopback,
        credentials=settings.cors_credentials,
    )
    app.add_middleware(ObservingMiddleware, watchers=watchers)  # outermost: sees preflights too
    return app
