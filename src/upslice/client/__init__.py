"""The upslice Python client: `Client` (blocking) and `AsyncClient`, over httpx."""

from __future__ import annotations

from upslice.client.aio import AsyncClient
from upslice.client.errors import (
    Conflict,
    IntegrityError,
    InvalidServerURL,
    NotFound,
    NotUpsliceServer,
    RetriesExhausted,
    ServerError,
    ServerIntegrityError,
    TransportError,
    Unreachable,
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
    "InvalidServerURL",
    "NotFound",
    "NotUpsliceServer",
    "Progress",
    "RetriesExhausted",
    "RetryPolicy",
    "ServerError",
    "ServerIntegrityError",
    "Task",
    "TransportError",
    "Unreachable",
    "UpsliceError",
]
