"""The upslice Python client: `Client` (blocking) and `AsyncClient`, over httpx."""

from __future__ import annotations

from upslice.client.aio import AsyncClient
from upslice.client.errors import (
    Conflict,
    IntegrityError,
    NotFound,
    RetriesExhausted,
    ServerError,
    ServerIntegrityError,
    TransportError,
    UpsliceError,
)
from upslice.client.models import Progress, Task
from upslice.client.retry import RetryPolicy
from upslice.client.sync import Client

__all__ = [
    "AsyncClient",
    "Client",
    "Conflict",
    "IntegrityError",
    "NotFound",
    "Progress",
    "RetriesExhausted",
    "RetryPolicy",
    "ServerError",
    "ServerIntegrityError",
    "Task",
    "TransportError",
    "UpsliceError",
]
