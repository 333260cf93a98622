"""What every log line says about where it came from: the request and the upload.

Context variables follow a request's task (and whatever it awaits), so a line logged deep in
the engine still names the request that caused it. The engine names the upload as soon as it
knows it (a create learns its id late).
"""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("upslice_request_id", default=None)
upload_id: ContextVar[str | None] = ContextVar("upslice_upload_id", default=None)


def about_upload(upload: str) -> None:
    """From here on in this request, log lines are about `upload`."""
    upload_id.set(upload)
