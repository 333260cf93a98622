"""Many small uploads, one after another and then at once: every one ends done. (A reply
built from a stale read of the record would say a just-stored chunk is missing: that happened
when reads on a shared connection overlapped and kept an old snapshot open.)"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import httpx

from tests.server_process import ServerProcess

UPLOADS = 50
SIZE = 1024 * 1024


async def upload_all(url: str) -> list[dict[str, object]]:
    bodies = [os.urandom(SIZE) for _ in range(UPLOADS)]
    limits = httpx.Limits(max_connections=UPLOADS)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:

        async def one(body: bytes) -> dict[str, object]:
            created = await http.post("/api/task", json={
                "hash": hashlib.md5(body).hexdigest(), "fileName": "small.bin",
                "fileSize": len(body), "chunkSize": len(body),
            })  # fmt: skip
            task = created.json()
            reply = await http.put(f"/api/task/{task['id']}/chunk/0", content=body)
            assert reply.status_code == 200, reply.text
            result: dict[str, object] = reply.json()
            return result

        in_a_row = [await one(body) for body in bodies]
        at_once = await asyncio.gather(*(one(os.urandom(SIZE)) for _ in bodies))
        return [*in_a_row, *at_once]


def test_small_uploads_in_a_row_then_at_once_all_end_done(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", "--log-level", "warning").start()
    try:
        replies = asyncio.run(upload_all(server.url))
    finally:
        server.stop()
    not_done = [r for r in replies if not r["done"]]
    assert not not_done, not_done[:2]
    assert all(r["receivedChunks"] == [0] for r in replies)
