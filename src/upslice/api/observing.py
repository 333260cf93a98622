"""The outermost layer: a request id, the upload a request is about, metrics and one access
line per request.

The request id comes from the client's `X-Request-Id` when it is a sane token (so a front end
or a proxy can follow its own id through our logs), or is made here; either way it is sent
back in `X-Request-Id` and named on every log line while the request runs.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from upslice import logcontext, metrics
from upslice.chaos import CHUNK_REQUEST

log = logging.getLogger("upslice.access")
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
UPLOAD_IN_PATH = re.compile(r"/(?:api/task|files)/([A-Za-z0-9_-]{6,})(?:/|$)")
ERROR_BODY_KEPT = 2048  # bytes of an error reply kept for whoever watches requests


@dataclass
class Exchange:
    """One request as it went: what an access line, a metric and the inspector need."""

    request_id: str
    method: str
    path: str
    started: float
    upload_id: str | None = None
    status: int = 0
    route: str = "unmatched"
    seconds: float = 0.0
    error_body: bytes = b""


def request_id_of(headers: Headers) -> str:
    given = headers.get("x-request-id", "")
    return given if SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def route_of(scope: Scope) -> str:
    """The route template (`/api/task/{task_id}`), never the raw path: bounded label values."""
    route = scope.get("route")
    if route is None:  # answered before routing (chaos, CORS): ask the routes
        router = getattr(scope.get("app"), "router", None)
        for candidate in getattr(router, "routes", ()):
            if candidate.matches(scope)[0] is not Match.NONE:
                route = candidate
                break
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


class ObservingMiddleware:
    def __init__(self, app: ASGIApp, *, watchers: list[Callable[[Exchange], None]]) -> None:
        self.app = app
        self.watchers = watchers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        exchange = Exchange(
            request_id_of(headers), scope["method"], scope["path"], time.perf_counter()
        )
        found = UPLOAD_IN_PATH.search(scope["path"])
        request_token = logcontext.request_id.set(exchange.request_id)
        upload_token = logcontext.upload_id.set(found.group(1) if found else None)
        chunk = bool(CHUNK_REQUEST.match(f"{scope['method']} {scope['path']}"))

        async def send_observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                message.setdefault("headers", [])
                message["headers"].append((b"x-request-id", exchange.request_id.encode()))
            elif message["type"] == "http.response.body" and exchange.status >= 400:
                room = ERROR_BODY_KEPT - len(exchange.error_body)
                exchange.error_body += message.get("body", b"")[: max(room, 0)]
            await send(message)

        if chunk:
            metrics.CHUNKS_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_observed)
        except Exception as exc:
            exchange.status = exchange.status or 500
            if isinstance(exc, OSError) or "stores" in type(exc).__module__:
                metrics.store_error(type(exc).__name__)
            raise
        finally:
            if chunk:
                metrics.CHUNKS_IN_FLIGHT.dec()
            self._finish(exchange, scope)
            logcontext.upload_id.reset(upload_token)
            logcontext.request_id.reset(request_token)

    def _finish(self, exchange: Exchange, scope: Scope) -> None:
        exchange.seconds = time.perf_counter() - exchange.started
        exchange.route = route_of(scope)
        exchange.upload_id = logcontext.upload_id.get()
        status = exchange.status or 499  # the client went away before any reply
        metrics.REQUEST_DURATION.labels(exchange.method, exchange.route, str(status)).observe(
            exchange.seconds
        )
        if status == 507:
            metrics.store_error("disk_full")
        log.info("%s %s %d %.1fms", exchange.method, exchange.path, status, exchange.seconds * 1000)
        for watcher in self.watchers:
            watcher(exchange)
