"""`GET /metrics` on the main port: open while bound to loopback, else only with the token.

An operator who would rather not expose it at all serves it on `--metrics-listen` instead
(see `upslice.cli.serving`), and the main port then has no `/metrics`.
"""

from __future__ import annotations

import hmac

from fastapi import FastAPI, Request
from starlette.responses import Response

from upslice import metrics
from upslice.errors import UploadError


class MetricsUnauthorized(UploadError):
    code, status = "unauthorized", 401


def mount_metrics(app: FastAPI, *, token: str | None) -> None:
    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def scrape(request: Request) -> Response:
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise MetricsUnauthorized(
                    "/metrics needs the header 'Authorization: Bearer <--metrics-token>'"
                )
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)
