"""A gauge of the HTTP requests this process is handling, shown in /health's counters.

A request whose client went away still runs until the server is done with it (bytes written
or dropped, locks released). Tests and operators need to know when that is: "nothing in
flight but this /health request" is the condition to wait for, instead of a guessed pause.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

GAUGE = "requests_in_flight"


class InFlight:
    """Pure ASGI middleware: counts each HTTP request from its start until the app returns."""

    def __init__(self, app: ASGIApp, counters: dict[str, int]) -> None:
        self.app = app
        self.counters = counters
        counters.setdefault(GAUGE, 0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.counters[GAUGE] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.counters[GAUGE] -= 1
