"""Retries with exponential backoff and full jitter, and which failures deserve one."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from upslice.client.errors import (
    RetriesExhausted,
    ServerError,
    TransportError,
    Unreachable,
    UpsliceError,
)

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({408, 423, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all; before try n+1 sleep uniform(0, min(cap, base * 2**n)).

    Full jitter (AWS architecture blog, "Exponential Backoff and Jitter") keeps many clients
    that failed together from retrying together. A server's Retry-After is honoured up to `cap`.
    """

    attempts: int = 8
    base: float = 0.2
    cap: float = 10.0

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        backoff = random.uniform(0, min(self.cap, self.base * 2 ** max(0, failures - 1)))
        if retry_after is not None:
            backoff = max(backoff, min(self.cap, retry_after))
        return backoff


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, TransportError):
        return True
    return isinstance(exc, ServerError) and exc.status in RETRYABLE_STATUSES


def retry_after(exc: BaseException) -> float | None:
    return exc.retry_after if isinstance(exc, ServerError) else None


async def with_retries(
    what: str,
    policy: RetryPolicy,
    attempt: Callable[[], Awaitable[T]],
    on_retry: Callable[[BaseException], None] | None = None,
    should_retry: Callable[[BaseException], bool] = retryable,
) -> T:
    """Await `attempt()` until it succeeds, retrying what `should_retry` allows."""
    failures = 0
    while True:
        try:
            return await attempt()
        except UpsliceError as exc:
            failures += 1
            if not should_retry(exc):
                raise
            if failures >= policy.attempts:
                gave_up = Unreachable if isinstance(exc, TransportError) else RetriesExhausted
                raise gave_up(what, failures, exc) from exc
            if on_retry is not None:
                on_retry(exc)
            await asyncio.sleep(policy.delay(failures, retry_after(exc)))
