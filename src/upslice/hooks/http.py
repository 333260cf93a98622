"""HTTP delivery (`--hooks-url`): POST the event as JSON, signed with HMAC-SHA256.

Headers: `Upslice-Event` (the event name), `Upslice-Event-Id` (for deduplication) and, with
`--hooks-secret`, `Upslice-Signature: t=<unix time>,sha256=<hex>` over `<t>.<body>`: a
receiver recomputes it and refuses an old `t` to stop replays.

A 2xx answer's JSON body is the decision (empty allows). A 4xx answer to a blocking event
refuses with that status (and the body's `message`); anything else is a failure (502), a
missing answer within `--hooks-timeout` a timeout (503).
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

from upslice.hooks.base import Delivery
from upslice.hooks.events import (
    BLOCKING,
    DEFAULT_EVENTS,
    Decision,
    HookEvent,
    HookFailed,
    HookTimeout,
)


def signature(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},sha256={mac.hexdigest()}"


def refusal_message(response: httpx.Response) -> str:
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or response.text.strip()[:500] or "refused by a hook")


class HttpHooks(Delivery):
    default_events = frozenset(DEFAULT_EVENTS)  # pre-access would cost a call per request

    def __init__(self, url: str, *, secret: str | None = None, timeout: float = 5.0) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:  # made lazily: in the event loop that uses it
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def deliver(self, event: HookEvent) -> Decision:
        body = event.encode().encode()
        headers = {
            "Content-Type": "application/json",
            "Upslice-Event": event.name,
            "Upslice-Event-Id": event.id,
        }
        if self.secret:
            headers["Upslice-Signature"] = signature(self.secret, body, int(time.time()))
        try:
            response = await self.client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise HookTimeout(
                f"the {event.name} hook at {self.url} did not answer within {self.timeout:g} s",
                hook=event.name,
            ) from None
        except httpx.HTTPError as exc:
            raise HookFailed(
                f"the {event.name} hook at {self.url} could not be reached ({type(exc).__name__})",
                hook=event.name,
            ) from None
        if response.is_success:
            return Decision.parse(response.content, f"{event.name} hook at {self.url}")
        if 400 <= response.status_code < 500 and event.name in BLOCKING:
            return Decision(
                reject=True, status=response.status_code, message=refusal_message(response)
            )
        raise HookFailed(
            f"the {event.name} hook at {self.url} answered HTTP {response.status_code}",
            hook=event.name,
        )
