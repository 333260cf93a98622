"""upslice: resumable, chunked file uploads over one durable engine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["AsyncClient", "Client", "Settings", "__version__", "create_app"]

if TYPE_CHECKING:
    from upslice.app import create_app
    from upslice.client import AsyncClient, Client
    from upslice.settings import Settings


def __getattr__(name: str) -> Any:
    """Lazy exports, so `import upslice` for the client does not load the server."""
    if name == "create_app":
        from upslice.app import create_app

        return create_app
    if name == "Settings":
        from upslice.settings import Settings

        return Settings
    if name in ("Client", "AsyncClient"):
        from upslice import client

        return getattr(client, name)
    raise AttributeError(name)
