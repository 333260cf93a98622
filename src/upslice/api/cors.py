"""Which browser origins may call the server, on every route.

While the server listens on a loopback address, any loopback origin (`http(s)://localhost:*`,
`127.x.x.x:*`, `[::1]:*`) may call it: a front-end developer's dev server works with no flags,
and nothing outside the machine can reach the server anyway. On any other address only the
`--cors-origin` list is allowed. The origin `null` (file:// pages, sandboxed iframes, some
redirects) is shared by every such document, so it is allowed only when listed by name, never
through `*`.

Starlette's middleware does the work; this subclass answers preflights with 204 (or a JSON
403 that says which flag to set) and keeps `null` out of `*`.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from upslice.api.tus_common import CORS_EXPOSE_HEADERS

LOOPBACK_ORIGIN = r"https?://(localhost|[a-z0-9-]+\.localhost|127(\.\d{1,3}){3}|\[::1\])(:\d{1,5})?"
NULL_ORIGIN = "null"
MAX_AGE = 7200  # Chromium's ceiling: preflights are cached this long


def is_loopback(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1 (a wildcard such as 0.0.0.0 is not)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORS with 204 preflights, a clear refusal, and `null` only by name."""

    def __init__(
        self, app: ASGIApp, *, origins: Sequence[str], loopback: bool, credentials: bool
    ) -> None:
        super().__init__(
            app,
            allow_origins=list(origins),
            allow_origin_regex=LOOPBACK_ORIGIN if loopback else None,
            allow_credentials=credentials,
            allow_methods=["*"],
            allow_headers=["*"],
            allow_private_network=True,
            expose_headers=CORS_EXPOSE_HEADERS,  # "*" is ignored with credentials
            max_age=MAX_AGE,
        )
        self.null_allowed = NULL_ORIGIN in origins
        self.loopback = loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = Headers(scope=scope).get("origin") if scope["type"] == "http" else None
        if origin == NULL_ORIGIN and not self.null_allowed and scope["method"] != "OPTIONS":
            await self.app(scope, receive, send)  # no CORS headers: the browser refuses
            return
        await super().__call__(scope, receive, send)

    def is_allowed_origin(self, origin: str) -> bool:
        if origin == NULL_ORIGIN:
            return self.null_allowed
        return super().is_allowed_origin(origin)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        headers = {k: v for k, v in response.headers.items() if k != "content-length"}
        if response.status_code < 400:
            headers.pop("content-type", None)
            return Response(status_code=204, headers=headers)
        origin = request_headers["origin"]
        if self.is_allowed_origin(origin):
            problem = bytes(response.body).decode(errors="replace").lower()
            message = f"CORS preflight refused: {problem}"
        else:
            where = "" if self.loopback else " (on a non-loopback address no origin is allowed)"
            message = (
                f"origin {origin!r} may not call this server{where}; "
                f"start it with --cors-origin {origin} (or UPSLICE_CORS_ORIGINS)"
            )
        body = json.dumps({"error": {"code": "cors_refused", "message": message}}).encode()
        return Response(body, 403, {"vary": headers["vary"]}, media_type="application/json")
