"""An ASGI middleware that makes the current request visible to hook events.

The engine speaks no HTTP; an event it raises still names the request behind it, read from a
context variable this middleware sets for the duration of each request.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from upslice.hooks.events import HIDDEN_HEADERS, HookRequest, current_request

HIDDEN_QUERY = frozenset({"sig"})  # a signed download URL's signature is a credential


def describe(request: Request) -> HookRequest:
    url = request.url
    query = [
        (k, v) for k, v in parse_qsl(url.query, keep_blank_values=True) if k not in HIDDEN_QUERY
    ]
    return HookRequest(
        method=request.method,
        uri=str(url.replace(query=urlencode(query))),
        headers={k: v for k, v in request.headers.items() if k not in HIDDEN_HEADERS},
        # this app's own root, also when mounted (request.base_url is the host app's root)
        base_url=str(
            url.replace(path=request.scope.get("root_path", "").rstrip("/") + "/", query="")
        ),
    )


class HookContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = current_request.set(describe(Request(scope)))
        try:
            await self.app(scope, receive, send)
        finally:
            current_request.reset(token)
