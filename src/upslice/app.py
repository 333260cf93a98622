"""The ASGI application factory: standalone, or mounted into a host FastAPI/Starlette app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from upslice import __version__
from upslice.api import tasks, tus
from upslice.api.browser import mount_browser
from upslice.api.errors import install_error_handlers
from upslice.api.identity import Identify, anonymous
from upslice.api.tus_common import CORS_EXPOSE_HEADERS
from upslice.chaos import ChaosConfig, ChaosMiddleware
from upslice.settings import Settings
from upslice.sweeper import sweep_forever
from upslice.wiring import build_engine


def create_app(settings: Settings | None = None, *, identify: Identify = anonymous) -> FastAPI:
    """Build the upslice ASGI app. `identify(request)` names the owner of each request.

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
    install_error_handlers(app)
    app.include_router(tasks.router)
    app.include_router(tus.router)
    mount_browser(app, demo=settings.demo)

    @app.get("/health", tags=["operations"], summary="Liveness and store names")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "dataStore": engine.data.name,
            "counters": dict(engine.counters),
        }

    if settings.chaos:
        chaos = ChaosConfig.parse(settings.chaos)
        logging.getLogger("upslice.chaos").warning(
            "CHAOS MODE ON: chunk requests will fail, stall and be cut (%s). "
            "Never run this in production.",
            chaos.describe(),
        )
        app.add_middleware(ChaosMiddleware, config=chaos)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=settings.cors_credentials,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=CORS_EXPOSE_HEADERS,  # "*" is ignored with credentials
        )
    return app
