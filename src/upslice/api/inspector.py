"""The live inspector at `/inspect`, for a developer debugging an upload page.

It shows every upload with its chunk map (from the MetaStore, so every worker's chunks), the
last requests across all protocols with the error body each got (this process's requests
only: with several workers each keeps its own), and the chaos knobs, switchable at runtime
(per process too). The page follows it all through server-sent events.

It is on by default only with the demo while the server listens on loopback; elsewhere it must
be switched on (`--inspector on`) and then needs `--inspector-token`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, Field
from starlette.responses import FileResponse, StreamingResponse

from upslice.api.browser import STATIC_DIR
from upslice.api.observing import Exchange
from upslice.chaos import ChaosConfig, ChaosKnobs
from upslice.engine import Engine
from upslice.errors import UploadError
from upslice.record import State, Upload

KEPT_REQUESTS = 300
LISTED_UPLOADS = 200
STREAM_SECONDS = 25.0  # an EventSource reconnects by itself; a stream never blocks shutdown
QUIET = ("/inspect", "/metrics", "/static", "/health")  # the inspector's own traffic


class InspectorUnauthorized(UploadError):
    code, status = "unauthorized", 401


class ChaosUpdate(BaseModel):
    fail: float = Field(0.0, ge=0, le=1)
    delay: float = Field(0.0, ge=0, le=1)
    cut: float = Field(0.0, ge=0, le=1)
    delay_max: float = Field(2.0, ge=0, le=60)


class RequestLog:
    """The last requests of this process, and who is listening for the next ones."""

    def __init__(self) -> None:
        self.entries: deque[dict[str, Any]] = deque(maxlen=KEPT_REQUESTS)
        self.listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self.sent: Counter[tuple[str, str]] = Counter()  # (upload, chunk path) -> requests

    def watch(self, exchange: Exchange) -> None:
        if exchange.path.startswith(QUIET):
            return
        entry = {
            "time": time.time(),
            "requestId": exchange.request_id,
            "method": exchange.method,
            "path": exchange.path,
            "route": exchange.route,
            "status": exchange.status,
            "ms": round(exchange.seconds * 1000, 1),
            "uploadId": exchange.upload_id,
            "error": exchange.error_body.decode(errors="replace") if exchange.status >= 400 else "",
        }
        if exchange.upload_id and exchange.method in ("PUT", "PATCH"):
            self.sent[(exchange.upload_id, exchange.path)] += 1
        self.entries.append(entry)
        for queue in self.listeners:
            queue.put_nowait(entry)

    def resent(self, upload_id: str, path: str) -> bool:
        return self.sent[(upload_id, path)] > 1


async def chunk_map(engine: Engine, upload: Upload, log: RequestLog) -> list[str]:
    """One word per chunk: received, resent (received after more than one try), inflight
    (someone holds its lease now) or missing."""
    received = set(upload.received_chunks)
    states = []
    for index in range(upload.chunk_count):
        path = f"/api/task/{upload.id}/chunk/{index}"
        if index in received:
            states.append("resent" if log.resent(upload.id, path) else "received")
        elif await engine.meta.get_lease(f"chunk:{upload.id}:{index * upload.chunk_size}"):
            states.append("inflight")
        else:
            states.append("missing")
    return states


async def uploads_now(engine: Engine, log: RequestLog) -> list[dict[str, Any]]:
    ids = [
        i for state in State for i in await engine.meta.ids_in_state(state, limit=LISTED_UPLOADS)
    ]
    uploads = [u for u in [await engine.meta.get(i) for i in ids] if u is not None]
    uploads.sort(key=lambda u: u.created_at, reverse=True)
    return [
        {
            "id": u.id,
            "protocol": u.protocol,
            "fileName": u.file_name,
            "size": u.size,
            "state": str(u.state),
            "received": u.uploaded_bytes,
            "offset": u.offset,
            "chunkSize": u.chunk_size,
            "chunks": await chunk_map(engine, u, log),
        }
        for u in uploads[:LISTED_UPLOADS]
    ]


def mount_inspector(app: FastAPI, *, token: str | None, knobs: ChaosKnobs, log: RequestLog) -> None:
    async def allowed(request: Request) -> None:  # async: a plain def would run on a thread
        if token is None:
            return
        given = request.query_params.get("token") or request.headers.get("authorization", "")
        if not any(hmac.compare_digest(given, ok) for ok in (token, f"Bearer {token}")):
            raise InspectorUnauthorized("the inspector needs ?token=<--inspector-token>")

    router = APIRouter(prefix="/inspect", dependencies=[Depends(allowed)], include_in_schema=False)

    def engine_of(request: Request) -> Engine:
        engine: Engine = request.app.state.engine
        return engine

    async def snapshot(request: Request) -> dict[str, Any]:
        return {
            "uploads": await uploads_now(engine_of(request), log),
            "requests": list(log.entries),
            "chaos": asdict(knobs.config),
        }

    @router.get("")
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "inspect.html", headers={"Cache-Control": "no-cache"})

    @router.get("/state")
    async def state(request: Request) -> dict[str, Any]:
        return await snapshot(request)

    @router.put("/chaos")
    async def set_chaos(update: ChaosUpdate) -> dict[str, Any]:
        knobs.config = ChaosConfig(**update.model_dump(), seed=knobs.config.seed)
        return asdict(knobs.config)

    @router.get("/events")
    async def events(request: Request) -> StreamingResponse:
        """`state` at once and whenever a request ends (at most every 200 ms)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def stream() -> AsyncIterator[str]:
            log.listeners.add(queue)
            ends = time.monotonic() + STREAM_SECONDS
            try:
                yield "retry: 500\n\n"
                while time.monotonic() < ends and not await request.is_disconnected():
                    yield f"event: state\ndata: {json.dumps(await snapshot(request))}\n\n"
                    try:  # wait for a request; then let a burst settle
                        await asyncio.wait_for(queue.get(), timeout=1.0)
                        await asyncio.sleep(0.2)
                    except TimeoutError:
                        pass  # chunks may land on other workers: look again
                    while not queue.empty():
                        queue.get_nowait()
            finally:
                log.listeners.discard(queue)

        return StreamingResponse(stream(), media_type="text/event-stream")

    app.include_router(router)
