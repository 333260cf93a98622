"""The original client flow in a few helpers: hash, create, slice, upload."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import httpx


def random_bytes(size: int, seed: int = 0) -> bytes:
    """Incompressible but reproducible test content."""
    import random

    return random.Random(seed).randbytes(size) if seed else os.urandom(size)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def create(
    client: httpx.Client, data: bytes, chunk_size: int, name: str = "file.bin", **extra: Any
) -> httpx.Response:
    body = {
        "hash": md5_hex(data),
        "fileName": name,
        "fileType": "application/octet-stream",
        "fileSize": len(data),
        "chunkSize": chunk_size,
        **extra,
    }
    return client.post("/api/task", json=body)


def chunk_of(data: bytes, task: dict[str, Any], index: int) -> bytes:
    size = task["chunkSize"]
    return data[index * size : (index + 1) * size]


def put_chunk(
    client: httpx.Client,
    task: dict[str, Any],
    index: int,
    body: bytes,
    *,
    checksum: bool = True,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = dict(headers or {})
    if checksum:
        sent["Upload-Checksum"] = "md5 " + base64.b64encode(hashlib.md5(body).digest()).decode()
    sent.setdefault("Content-Type", "application/octet-stream")
    return client.put(f"/api/task/{task['id']}/chunk/{index}", content=body, headers=sent)


def bytes_received(client: httpx.Client) -> int:
    counters: dict[str, int] = client.get("/health").json()["counters"]
    return counters["bytes_received"]
