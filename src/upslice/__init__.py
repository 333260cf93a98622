"""upslice: resumable, chunked file uploads over one durable engine.

Every export loads on first use: the client side (`Client`, `AsyncClient`, their models and
errors) without the server, and `create_app` / `Settings` without the client's HTTP stack,
which a server process never needs (httpx alone is some 20 MiB of resident memory).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
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
    "Settings",
    "Task",
    "TransportError",
    "Unreachable",
    "UpsliceError",
    "__version__",
    "create_app",
]

if TYPE_CHECKING:
    from upslice.app import create_app
    from upslice.client import (
        AsyncClient,
        Client,
        Conflict,
        IntegrityError,
        InvalidServerURL,
        NotFound,
        NotUpsliceServer,
        Progress,
        RetriesExhausted,
        RetryPolicy,
        ServerError,
        ServerIntegrityError,
        Task,
        TransportError,
        Unreachable,
        UpsliceError,
    )
    from upslice.settings import Settings

CLIENT_EXPORTS = frozenset(__all__) - {"Settings", "__version__", "create_app"}


def __getattr__(name: str) -> Any:
    """Lazy exports: `import upslice` loads neither the server nor the client until used."""
    if name == "create_app":
        from upslice.app import create_app

        return create_app
    if name == "Settings":
        from upslice.settings import Settings

        return Settings
    if name in CLIENT_EXPORTS:
        from upslice import client

        return getattr(client, name)
    raise AttributeError(f"module 'upslice' has no attribute {name!r}")
