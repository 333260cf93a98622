"""1xx informational responses, which ASGI has no message for.

The resumable-upload draft asks for `104 Upload Resumption Supported` (with the upload's
Location) before the request body is read, so a client cut off mid-body can still resume.
ASGI only knows 103 early hints, so on uvicorn's HTTP/1.1 transport the interim response is
written directly, ahead of the final one; under any other server this quietly does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.requests import Request

log = logging.getLogger("upslice.interim")


def send_interim(request: Request, status: int, reason: str, headers: Mapping[str, str]) -> bool:
    """Write `HTTP/1.1 <status> <reason>` with `headers`; True if it went out."""
    if request.scope.get("http_version") != "1.1":
        return False
    cycle = getattr(request.receive, "__self__", None)  # uvicorn's RequestResponseCycle
    transport = getattr(cycle, "transport", None)
    if transport is None or getattr(cycle, "response_started", True) or transport.is_closing():
        return False
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers.items())]
    transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    log.debug("sent %d %s", status, reason)
    return True
