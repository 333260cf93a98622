"""Whole-file digests in one streaming pass, and per-request checksum headers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from upslice.client.source import Source

ALGORITHMS = ("md5", "sha256")
BLOCK = 1024 * 1024


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


def new_hasher(algorithm: str) -> Hasher:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"hash_algorithm must be one of {', '.join(ALGORITHMS)}")
    return hashlib.new(algorithm)


def _feed(source: Source, hasher: Hasher, offset: int) -> int:
    block = source.read(offset, min(BLOCK, source.size - offset))
    if not block:
        raise OSError(f"{source.name} ended at {offset} of {source.size} bytes")
    hasher.update(block)
    return len(block)


def hash_source(
    source: Source, algorithm: str = "md5", progress: Callable[[int], None] | None = None
) -> str:
    """Hex digest of the whole source, read block by block (never all at once)."""
    hasher = new_hasher(algorithm)
    offset = 0
    while offset < source.size:
        step = _feed(source, hasher, offset)
        offset += step
        if progress is not None:
            progress(step)
    return hasher.hexdigest()


async def hash_source_async(
    source: Source, algorithm: str = "md5", progress: Callable[[int], None] | None = None
) -> str:
    """`hash_source` off the event loop, one block per thread hop, progress on the loop."""
    hasher = new_hasher(algorithm)
    offset = 0
    while offset < source.size:
        step = await asyncio.to_thread(_feed, source, hasher, offset)
        offset += step
        if progress is not None:
            progress(step)
    return hasher.hexdigest()


def hash_file(path: str | Path, algorithm: str = "md5") -> str:
    with Source(path) as source:
        return hash_source(source, algorithm)


def upload_checksum(data: bytes, algorithm: str = "md5") -> str:
    """`Upload-Checksum` value (tus syntax, also read by the tasks API): `<algo> <base64>`."""
    digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm} {base64.b64encode(digest).decode()}"
