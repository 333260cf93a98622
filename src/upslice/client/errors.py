"""What the client raises: one base class, split by what a caller can do about it."""

from __future__ import annotations

from typing import Any

import httpx


class UpsliceError(Exception):
    """Anything the upslice client raises on purpose."""


class TransportError(UpsliceError):
    """The request never got a reply: refused, reset, cut, or timed out."""


class RetriesExhausted(UpsliceError):
    """A retryable failure kept happening; `last` is the final one."""

    def __init__(self, what: str, attempts: int, last: BaseException) -> None:
        super().__init__(f"{what}: gave up after {attempts} attempts ({last})")
        self.attempts = attempts
        self.last = last


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


def error_from(response: httpx.Response) -> ServerError:
    """The exception for an error response, reading the JSON error body when there is one."""
    code, message, details = "http_error", response.reason_phrase or "error", {}
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        details = dict(body["error"])
        code = str(details.pop("code", code))
        message = str(details.pop("message", message))
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
