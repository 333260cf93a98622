"""What the client raises: one base class, split by what a caller can do about it.

::

    UpsliceError                      anything the client raises on purpose
    ├── InvalidServerURL (ValueError) the server URL cannot work ("host:port", no scheme)
    ├── TransportError                no reply: refused, reset, cut, timed out
    │   └── Unreachable               ... and retrying did not help (also a RetriesExhausted)
    ├── RetriesExhausted              a retryable failure kept happening; `.last` is the final one
    ├── NotUpsliceServer              something answered, but not the upslice API
    ├── IntegrityError                bytes do not match their hash
    │   └── ServerIntegrityError      422: the server found the mismatch (also a ServerError)
    └── ServerError                   an error status; `.status`, `.code`, `.message`, `.details`
        ├── NotFound                  404/410: no such task (or it expired)
        ├── Conflict                  409: the request does not fit the task's state
        └── ServerIntegrityError

Catch `TransportError` for "the network or the server is down", `ServerError` for "the
server said no", `IntegrityError` for "the bytes are wrong", `UpsliceError` for all of them.
"""

from __future__ import annotations

from typing import Any

import httpx


class UpsliceError(Exception):
    """Anything the upslice client raises on purpose."""


class InvalidServerURL(UpsliceError, ValueError):
    """The server URL can never work: no http(s) scheme or no host. Raised at construction."""


class TransportError(UpsliceError):
    """The request never got a reply: refused, reset, cut, or timed out."""


class RetriesExhausted(UpsliceError):
    """A retryable failure kept happening; `last` is the final one."""

    def __init__(self, what: str, attempts: int, last: BaseException) -> None:
        super().__init__(f"{what}: gave up after {attempts} attempts ({last})")
        self.attempts = attempts
        self.last = last


class Unreachable(RetriesExhausted, TransportError):
    """No reply however often we asked: the server is down, or the URL points nowhere."""


class NotUpsliceServer(UpsliceError):
    """The URL answers, but not as an upslice server would (HTML, another API, a proxy page)."""


class IntegrityError(UpsliceError):
    """Bytes do not match their declared hash: a corrupted transfer or a changed file."""


class ServerError(UpsliceError):
    """The server replied with an error status and (usually) an `{"error": {...}}` body."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.retry_after: float | None = None


class NotFound(ServerError):
    """404 (or 410): no such task, or it expired."""


class Conflict(ServerError):
    """409: the request does not fit the task's state (missing chunks, wrong size, ...)."""


class ServerIntegrityError(ServerError, IntegrityError):
    """422 from the server: a chunk checksum or the whole-file hash did not match."""


def upslice_body(response: httpx.Response) -> dict[str, Any] | None:
    """The `{"error": {...}}` object of an upslice error reply, or None for anything else."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return dict(body["error"])
    return None


def error_from(response: httpx.Response, server: str | None = None) -> UpsliceError:
    """The exception for an error response, reading the JSON error body when there is one.

    A 404/405 from upslice's own API without its JSON body (an HTML page, another app's
    error) means the URL is not an upslice server. Other statuses may come from a proxy in front
    of one, and the tus endpoint may be any tus server: those keep their usual meaning.
    """
    code, message = "http_error", response.reason_phrase or "error"
    details = upslice_body(response)
    if details is not None:
        code = str(details.pop("code", code))
        message = str(details.pop("message", message))
    elif response.status_code in (404, 405) and own_api(response.request):
        return not_upslice(response, server)
    elif response.text:
        message = response.text.strip()[:300]
    kind: type[ServerError] = ServerError
    if response.status_code in (404, 410):
        kind = NotFound
    elif response.status_code == 409:
        kind = Conflict
    elif response.status_code == 422:
        kind = ServerIntegrityError
    error = kind(response.status_code, code, message, details)
    after = response.headers.get("retry-after", "")
    error.retry_after = float(after) if after.isdigit() else None
    return error


def own_api(request: httpx.Request) -> bool:
    """A request whose error reply upslice always words in JSON (HEAD replies have no body)."""
    path = request.url.path
    return request.method != "HEAD" and ("/api/" in path or path.endswith("/health"))


def not_upslice(response: httpx.Response, server: str | None = None) -> NotUpsliceServer:
    """`server` names the base URL the caller configured (a mounted app's has a path)."""
    request = response.request
    base = server or f"{request.url.scheme}://{request.url.netloc.decode()}"
    kind = response.headers.get("content-type", "no content type").split(";")[0]
    return NotUpsliceServer(
        f"not an upslice server at {base}: {request.method} {request.url.path} answered "
        f"{response.status_code} ({kind})"
    )
