"""The whole-file hash, computed beside the requests over the contiguous received prefix.

MD5 runs at ~600 MiB/s on one core and cannot be split, so it must not sit on the request path:
a chunk is acknowledged once its bytes are written and checked (CRC-32, client checksum), while
one worker task per upload feeds the hash in file order, from bytes handed over in memory by the
request that continues the prefix, or read back from the store (page cache) for chunks that
arrived early. Completion then only waits for that worker to catch up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from upslice.hashing import Hasher, new_hasher

log = logging.getLogger("upslice.prefix")
Reader = Callable[[int, int], AsyncIterator[bytes]]
MAX_PENDING = 16 * 1024 * 1024  # bytes handed over but not hashed yet, per upload
MAX_LAG = 64 * 1024 * 1024  # how far acknowledged bytes may run ahead of the hash (~150 ms)


class PrefixHash:
    def __init__(self, algorithm: str) -> None:
        self.hasher: Hasher = new_hasher(algorithm)
        self.queued = 0  # end of everything handed to the worker
        self.hashed = 0  # end of what the worker has hashed
        self.broken = False
        self._busy = False  # a request body is feeding blocks
        self._pending = 0
        self._room = asyncio.Event()  # set while fewer than MAX_PENDING bytes wait
        self._room.set()
        self._hashed_more = asyncio.Condition()
        self._work: asyncio.Queue[bytes | tuple[Reader, int, int]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def claim(self, start: int) -> bool:
        """Let a request body at `start` feed the hash directly, if it continues the prefix."""
        if self.broken or self._busy or self.queued != start:
            return False
        self._busy = True
        return True

    async def feed(self, block: bytes) -> None:
        """Hand over one block of the claiming request; waits only when far behind."""
        while self._pending >= MAX_PENDING and not self.broken:
            self._room.clear()
            await self._room.wait()
        if self.broken:
            return
        self._pending += len(block)
        self.queued += len(block)
        self._submit(block)

    def release(self, accepted: bool) -> None:
        """End a claim; bytes of a refused body were fed, so the hash is then unusable."""
        self._busy = False
        if not accepted:
            self.close()

    def catch_up(self, target: int, read: Reader) -> None:
        """Queue the stored bytes from the prefix's end up to `target`, unless a body feeds."""
        if self.broken or self._busy or target <= self.queued:
            return
        self._submit((read, self.queued, target))
        self.queued = target

    async def keep_up(self, target: int) -> None:
        """Hold an acknowledgement while the hash trails `target` by more than MAX_LAG.

        This bounds the wait at completion: the hash is never more than ~MAX_LAG behind what
        the clients were told is stored. Only queued work is waited for, so this cannot stall.
        """
        async with self._hashed_more:
            await self._hashed_more.wait_for(
                lambda: self.broken or self.hashed >= min(self.queued, target - MAX_LAG)
            )

    async def digest(self, target: int, read: Reader) -> str | None:
        """Hex digest of bytes [0, target), or None when this hash cannot give it."""
        self.catch_up(target, read)
        await self._work.join()
        if self.broken or self.hashed != target:
            return None
        return self.hasher.hexdigest()

    def close(self) -> None:
        self.broken = True
        self._room.set()
        asyncio.get_running_loop().create_task(self._notify())
        if self._worker is not None:
            self._worker.cancel()
        self._drain()

    def _submit(self, item: bytes | tuple[Reader, int, int]) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run())
        self._work.put_nowait(item)

    async def _run(self) -> None:
        while True:
            item = await self._work.get()
            try:
                if not self.broken:
                    await self._hash(item)
            except asyncio.CancelledError:
                self.broken = True
                self._drain()
                raise
            except Exception:
                log.exception("prefix hash failed; completion will re-read the file")
                self.broken = True
            finally:
                self._work.task_done()
            await self._notify()
            if self.broken:
                self._drain()

    async def _hash(self, item: bytes | tuple[Reader, int, int]) -> None:
        if isinstance(item, bytes):
            await asyncio.to_thread(self.hasher.update, item)
            self.hashed += len(item)
            self._pending -= len(item)
            if self._pending < MAX_PENDING:
                self._room.set()
            return
        read, start, end = item
        if start != self.hashed:
            raise RuntimeError(f"read-back from {start} but the hash is at {self.hashed}")
        async for block in read(start, end):
            await asyncio.to_thread(self.hasher.update, block)
            self.hashed += len(block)
            await self._notify()

    async def _notify(self) -> None:
        async with self._hashed_more:
            self._hashed_more.notify_all()

    def _drain(self) -> None:
        """Forget queued work of a broken hash, so waiters on `join()` return."""
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                self._work.get_nowait()
                self._work.task_done()
