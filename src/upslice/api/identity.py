"""Who is asking: the seam a host application uses to scope uploads to its users.

The decision itself lives in `upslice.auth.access` (identify or a token, then pre-access).
"""

from __future__ import annotations

from starlette.requests import Request

from upslice.auth.access import Access, Identify, anonymous

__all__ = ["Identify", "anonymous", "owner_of"]


async def owner_of(request: Request) -> str | None:
    access: Access | None = getattr(request.app.state, "access", None)
    if access is None:
        access = Access(getattr(request.app.state, "identify", anonymous))
    return await access.owner(request)
