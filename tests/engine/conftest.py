"""Engines without HTTP; two of them on the same stores stand for two workers or nodes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from upslice.engine import Engine, Limits
from upslice.record import Upload
from upslice.stores.filesystem import FilesystemStore
from upslice.stores.sqlite import SqliteMetaStore


class CountingStore(FilesystemStore):
    """The real filesystem store, counting the bytes read back (to prove none are re-hashed)."""

    bytes_read = 0

    async def read(self, upload: Upload, start: int, end: int) -> AsyncIterator[bytes]:
        async for block in super().read(upload, start, end):
            self.bytes_read += len(block)
            yield block

    async def feed(
        self, upload: Upload, start: int, end: int, update: Callable[[bytes | memoryview], None]
    ) -> AsyncIterator[int]:
        async for fed in super().feed(upload, start, end, update):
            self.bytes_read += fed
            yield fed


def make_engine(root: Path, lease_seconds: float = 10.0) -> Engine:
    return Engine(
        CountingStore(root / "data"),
        SqliteMetaStore(root / "meta.db"),
        Limits(min_chunk_size=1024, lease_seconds=lease_seconds),
    )


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    engine = make_engine(tmp_path)
    await engine.open()
    yield engine
    await engine.close()


async def body(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 4096):
        yield data[start : start + 4096]


class LeaseRequests:
    """Counts an engine's requests for one lease, to see a waiter poll for it (the condition
    that shows it waits, rather than a pause guessed to be long enough)."""

    def __init__(self, engine: Engine, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        acquire = engine.meta.acquire_lease

        async def counting(lease: str, *args: Any, **kwargs: Any) -> bool:
            self.count += lease == name
            return await acquire(lease, *args, **kwargs)

        monkeypatch.setattr(engine.meta, "acquire_lease", counting)

    async def until_waiting(self, waiter: asyncio.Task[Any], polls: int = 3) -> None:
        """Until `waiter` asked for the lease `polls` times; fails if it ended instead."""
        deadline = time.monotonic() + 30
        while self.count < polls:
            assert not waiter.done() and time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert not waiter.done()
