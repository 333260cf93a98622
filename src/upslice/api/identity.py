"""Who is asking: the seam a host application uses to scope uploads to its users."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

Identify = Callable[[Request], Awaitable[str | None]]


async def anonymous(request: Request) -> str | None:
    """The standalone default: no authentication, every upload is unowned."""
    return None


async def owner_of(request: Request) -> str | None:
    identify: Identify = getattr(request.app.state, "identify", anonymous)
    return await identify(request)
