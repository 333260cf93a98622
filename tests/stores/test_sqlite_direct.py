"""SQLite statements on the loop's thread never wait there: a busy database sends them to the
aiosqlite path, which waits for the lock, so another process's write only delays them."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from tests.stores.conftest import make_upload
from upslice.record import Segment
from upslice.stores.sqlite import SqliteMetaStore


async def test_writes_wait_for_another_connections_lock_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    store = SqliteMetaStore(tmp_path / "meta.db")
    await store.open()
    other = sqlite3.connect(tmp_path / "meta.db", isolation_level=None, check_same_thread=False)
    try:
        await store.insert(make_upload("a", size=10, chunk_size=5))
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        writes = asyncio.gather(
            store.put_segment("a", Segment(0, 5, "crc32c:00000000")),
            store.insert(make_upload("b", size=10, chunk_size=5)),
            store.acquire_lease("complete:a", "me", 30),
        )
        ticks = 0
        while ticks < 20:  # the loop keeps running while the writes wait for the lock
            await asyncio.sleep(0)
            ticks += 1
        assert not writes.done()
        assert (await store.get("a")) is not None  # reads go on meanwhile (WAL)
        threading.Thread(target=other.execute, args=("COMMIT",)).start()
        assert list(await writes) == [True, None, True]
        stored = await store.get("a")
        assert stored is not None and stored.segments == (Segment(0, 5, "crc32c:00000000"),)
        assert await store.get("b") is not None
    finally:
        other.close()
        await store.close()


async def test_one_statement_get_keeps_segments_in_order(tmp_path: Path) -> None:
    store = SqliteMetaStore(tmp_path / "meta.db")
    await store.open()
    try:
        await store.insert(make_upload("a", size=10, chunk_size=5))
        for start in (5, 0):  # stored out of order, as parallel chunks land
            await store.put_segment("a", Segment(start, start + 5, f"crc32c:{start:08x}"))
        stored = await store.get("a")
        assert stored is not None
        assert [s.start for s in stored.segments] == [0, 5]
        assert stored.segments[1] == Segment(5, 10, "crc32c:00000005")
    finally:
        await store.close()
