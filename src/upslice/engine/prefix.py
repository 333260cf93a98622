"""The whole-file hash, computed beside the requests over the contiguous received prefix.

MD5 runs at ~600 MiB/s on one core and cannot be split, so it must not sit on the request path,
and with several workers or nodes no process sees every chunk. So one process at a time (the
holder of the upload's `hash:` lease) runs a *pump* that hashes the prefix in file order: from
blocks handed over in memory by a local request that continues the prefix, or read back from
the store for bytes that arrived elsewhere. It checkpoints the serialized hash state in the
MetaStore, so whichever process comes next (another node, a restarted server) continues from
there instead of from zero. A checkpoint only ever covers acknowledged bytes, and replacing
bytes below it bumps its generation, which makes every older checkpoint unsaveable.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time

from upslice import metrics
from upslice.engine.leases import Held, Leases
from upslice.hashing import HASH_THREADS, Pieces, size_of, update_gathered
from upslice.hashstate import ResumableHasher
from upslice.record import HashState, Upload
from upslice.stores.base import DataStore, MetaStore

log = logging.getLogger("upslice.prefix")
MAX_PENDING = 8 * 1024 * 1024  # bytes handed over but not hashed yet, per upload
MAX_LAG = 8 * 1024 * 1024  # how far acknowledged bytes may run ahead of a local hash (~12 ms)
CHECKPOINT_EVERY = 64 * 1024 * 1024
KEEP_UP_WAIT = 5.0  # the longest an acknowledgement waits for another process's hash
POLL = 0.02  # how often an idle pump looks for bytes that landed on other processes
LINGER = 2.0  # how long an idle pump keeps its lease before it hands the work back
Work = bytes | tuple[int, int]


class Pump:
    """This process's turn at hashing one upload's prefix, for as long as it holds the lease."""

    def __init__(self, hashes: PrefixHashes, upload: Upload) -> None:
        self.hashes = hashes
        self.upload_id = upload.id
        self.hasher = ResumableHasher(upload.hash_algorithm)
        self.generation = 0
        self.queued = 0  # end of everything handed to the pump
        self.hashed = 0  # end of what it has hashed
        self.saved = 0  # end of its newest checkpoint
        self.broken = False
        self.result: str | None = None  # the digest, once the whole upload is hashed and saved
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._busy = False  # a request body is feeding blocks
        self._pending = 0
        self._room = asyncio.Event()
        self._room.set()
        self._progress: list[asyncio.Future[None]] = []  # keep_up's waiters
        self._wake = asyncio.Event()
        self._work: collections.deque[Work] = collections.deque()
        self.task = asyncio.create_task(self._main())

    # ---- feeding from a request body ------------------------------------------------------

    def claim(self, start: int) -> bool:
        """Let a request body at `start` feed the hash directly, if it continues the prefix."""
        if self.broken or self._busy or self.task.done():
            return False
        if self.queued < start:  # [queued, start) is acknowledged: read it back first
            self._work.append((self.queued, start))
            self.queued = start
        if self.queued != start:
            return False
        self._busy = True
        return True

    async def feed(self, pieces: Pieces) -> None:
        """Hand over one block of the claiming request; waits only when far behind."""
        while self._pending >= MAX_PENDING and not self.broken:
            self._room.clear()
            await self._room.wait()
        if self.broken:
            return
        size = size_of(pieces)
        self._pending += size
        self.queued += size
        self._work.extend(pieces)
        self._wake.set()

    def release(self, accepted: bool) -> None:
        """End a claim; bytes of a refused body were fed, so this hash is then unusable."""
        self._busy = False
        if not accepted:
            self.stop()
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self.broken = True
        self._room.set()
        self.wake()

    async def keep_up(self, target: int) -> None:
        """Hold an acknowledgement while this hash trails `target` by more than MAX_LAG.

        Acknowledged bytes the pump has not queued yet (chunks that landed ahead of the
        prefix, on parallel streams) are queued for reading back first: otherwise the bound
        would only cover what the pump already knew, and the hash could trail by far more."""
        if not self._busy and not self.broken and self.queued < target:
            self._work.append((self.queued, target))
            self.queued = target
            self.wake()
        while not (
            self.broken or self.task.done() or self.hashed >= min(self.queued, target - MAX_LAG)
        ):
            waiter = asyncio.get_running_loop().create_future()
            self._progress.append(waiter)
            await waiter

    # ---- the pump itself ------------------------------------------------------------------

    async def _main(self) -> None:
        try:
            async with self.hashes.leases.holding(f"hash:{self.upload_id}") as held:
                if held is None:
                    self.ready.set_result(False)
                    return
                await self._load()
                self.ready.set_result(True)
                await self._loop(held)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("hash pump for %s failed; the next one starts over", self.upload_id)
        finally:
            self.broken = True
            if not self.ready.done():
                self.ready.set_result(False)
            self._room.set()
            self._notify()
            self.hashes.ended(self)

    async def _load(self) -> None:
        state = await self.hashes.meta.load_hash_state(self.upload_id)
        if state is not None:
            self.generation = state.generation
            if state.state:
                self.hasher = ResumableHasher.deserialize(state.state)
                self.queued = self.hashed = self.saved = state.offset

    async def _loop(self, held: Held) -> None:
        idle_since = time.monotonic()
        while not self.broken and not held.lost:
            if self._work:
                await self._hash(self._next_work())
                idle_since = time.monotonic()
                continue
            if self._busy:  # a local body feeds us and wakes us with each block
                idle_since = time.monotonic()
                await self._sleep()
                continue
            upload = await self.hashes.meta.get(self.upload_id)
            if upload is None or upload.done:
                return
            if upload.offset > self.queued:
                self._work.append((self.queued, upload.offset))
                self.queued = upload.offset
                continue
            finished = upload.size is not None and self.hashed == upload.size
            if self.hashed > self.saved and self.hashed <= upload.offset:
                if (
                    finished
                    or self.hashed - self.saved >= CHECKPOINT_EVERY
                    or self._idle(idle_since, LINGER)
                ):
                    if not await self._save():
                        return
            if finished and self.saved == self.hashed:
                self.result = self.hasher.hexdigest()
                return
            if self._idle(idle_since, LINGER):  # finished but unacknowledged waits for its ack
                return
            await self._sleep()

    async def _sleep(self) -> None:
        """Until a local request wakes us, or POLL passes (bytes may land on other nodes).

        While a local body feeds the pump it wakes it with every block and at its end, so
        no timer is needed then: with 50 bodies arriving at once, a timer per pump firing
        every POLL cost the loop more than the bodies' own hashing. The timer is a plain
        `call_later` rather than `wait_for`, which makes and cancels a task each time."""
        self._wake.clear()
        if self._busy:
            await self._wake.wait()
            return
        timer = asyncio.get_running_loop().call_later(POLL, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            timer.cancel()

    @staticmethod
    def _idle(since: float, seconds: float) -> bool:
        return time.monotonic() - since >= seconds

    async def _save(self) -> bool:
        state = HashState(self.generation, self.hashed, self.hasher.serialize())
        if await self.hashes.meta.save_hash_state(self.upload_id, state):
            self.saved = self.hashed
            return True
        log.info("hash of %s was reset (bytes were replaced); starting over", self.upload_id)
        self.broken = True
        return False

    def _next_work(self) -> Work | list[bytes]:
        """The next read-back range, or every block handed over in a row: one trip to a
        thread for all of them. A trip costs about a millisecond on a busy loop, so a trip
        per block would make a lagging hash fall further behind."""
        item = self._work.popleft()
        if not isinstance(item, bytes):
            return item
        blocks = [item]
        while self._work and isinstance(self._work[0], bytes):
            blocks.append(self._work.popleft())  # type: ignore[arg-type]
        return blocks

    async def _hash(self, item: Work | list[bytes]) -> None:
        if isinstance(item, list):
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(HASH_THREADS, self._hash_handed, item, loop)
        else:
            start, end = item
            if start != self.hashed:
                raise RuntimeError(f"read-back from {start} but the hash is at {self.hashed}")
            upload = await self.hashes.meta.get(self.upload_id)
            if upload is None:
                self.broken = True
                return
            async for fed in self.hashes.data.feed(upload, start, end, self.hasher.update):
                self.hashed += fed
                self._notify()
        self._notify()

    def _hash_handed(self, blocks: list[bytes], loop: asyncio.AbstractEventLoop) -> None:
        """On a hashing thread: `blocks`, then every block handed over meanwhile, in one trip.

        A trip per batch left the thread idle a millisecond after each one, waiting for the
        busy loop to notice it had ended and to start the next (a fifth of a verified
        upload's time: 426 trips, 0.48 s idle of 2.17 s). Here the thread takes the next
        blocks itself; only the pump pops them, and it is waiting for this trip. Progress
        goes back to the loop after each batch, so acknowledgements are not held meanwhile."""
        trip = 0
        while blocks:
            update_gathered(self.hasher.update, blocks)
            size = size_of(blocks)
            loop.call_soon_threadsafe(self._advanced, size)
            trip += size
            if self.broken or trip >= CHECKPOINT_EVERY:
                return  # back to the loop: it checks the lease and saves checkpoints
            blocks = []
            while self._work and isinstance(self._work[0], bytes):
                blocks.append(self._work.popleft())  # type: ignore[arg-type]

    def _advanced(self, size: int) -> None:
        self.hashed += size
        self._pending -= size
        if self._pending < MAX_PENDING:
            self._room.set()
        self._notify()

    def _notify(self) -> None:
        self.hashes.report_lag()
        waiters, self._progress = self._progress, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class PrefixHashes:
    """This process's pumps by upload id: a cache; the MetaStore's checkpoints are the truth."""

    def __init__(self, data: DataStore, meta: MetaStore, leases: Leases) -> None:
        self.data = data
        self.meta = meta
        self.leases = leases
        self._pumps: dict[str, Pump] = {}

    def ended(self, pump: Pump) -> None:
        if self._pumps.get(pump.upload_id) is pump:
            del self._pumps[pump.upload_id]
        self.report_lag()

    def report_lag(self) -> None:
        metrics.hash_lag(sum(max(0, p.queued - p.hashed) for p in self._pumps.values()))

    def _running(self, upload_id: str) -> Pump | None:
        pump = self._pumps.get(upload_id)
        return pump if pump is not None and not pump.task.done() and not pump.broken else None

    def _start(self, upload: Upload) -> Pump:
        pump = self._running(upload.id)
        if pump is None:
            pump = self._pumps[upload.id] = Pump(self, upload)
        return pump

    async def feeder(self, upload: Upload, start: int) -> Pump | None:
        """A local pump that the body at `start` may feed, when it continues the prefix."""
        if start != upload.offset or not upload.hashed:
            return None
        pump = self._start(upload)
        if not await asyncio.shield(pump.ready):
            return None
        return pump if pump.claim(start) else None

    def nudge(self, upload: Upload) -> None:
        """Bytes landed at the prefix's end: make sure some process hashes them."""
        if not upload.hashed or not self.data.can_read_partial:  # see spooled.py for S3
            return
        pump = self._running(upload.id)
        if pump is not None:
            pump.wake()
        else:
            self._start(upload)

    async def keep_up(self, upload: Upload) -> None:
        """Hold an acknowledgement while the hash trails the prefix too far, so that
        completion never waits long for it, whichever process is hashing."""
        if not upload.hashed or not self.data.can_read_partial:  # S3: hashed before its ack
            return
        pump = self._running(upload.id)
        if pump is not None and await asyncio.shield(pump.ready):
            await pump.keep_up(upload.offset)
            return
        deadline = time.monotonic() + KEEP_UP_WAIT
        while time.monotonic() < deadline:  # polling: the pump runs on another process
            state = await self.meta.load_hash_state(upload.id)
            if upload.offset - (state.offset if state else 0) <= MAX_LAG + CHECKPOINT_EVERY:
                return
            if await self.meta.get_lease(f"hash:{upload.id}") is None:
                self.nudge(upload)  # nobody hashes it: this process will
                return
            await asyncio.sleep(POLL)

    def forget(self, upload_id: str) -> None:
        pump = self._pumps.pop(upload_id, None)
        if pump is not None:
            pump.stop()

    async def invalidate(self, upload_id: str) -> None:
        """Bytes below the prefix's end were replaced: every checkpoint so far is void."""
        await self.meta.reset_hash_state(upload_id)
        self.forget(upload_id)

    async def digest(self, upload: Upload, deadline: float) -> str | None:
        """Hex digest of the whole upload, continuing from the newest checkpoint.

        Waits while another process's pump holds the lease (it hands over once it reaches
        the end, or its lease lapses if it died); None if that takes past `deadline`.
        """
        assert upload.size is not None
        state = await self.meta.load_hash_state(upload.id)
        if state is not None and state.offset == upload.size and state.state:
            return ResumableHasher.deserialize(state.state).hexdigest()  # no lease to read it
        while time.monotonic() < deadline:
            pump = self._running(upload.id)
            if pump is not None:
                pump.wake()
                await asyncio.shield(pump.task)
                if pump.result is not None and pump.hashed == upload.size:
                    return pump.result  # saved under its lease: no other process can differ
                continue
            async with self.leases.holding(f"hash:{upload.id}") as held:
                if held is not None:
                    return await self._finish(upload)
            await asyncio.sleep(POLL)  # polling: another process is hashing this upload
        return None

    async def _finish(self, upload: Upload) -> str:
        assert upload.size is not None
        state = await self.meta.load_hash_state(upload.id)
        hasher, offset = ResumableHasher(upload.hash_algorithm), 0
        if state is not None and state.state:
            hasher, offset = ResumableHasher.deserialize(state.state), state.offset
        async for _ in self.data.feed(upload, offset, upload.size, hasher.update):
            pass
        if offset < upload.size:  # so that a retry after a failure need not hash it again
            generation = state.generation if state is not None else 0
            await self.meta.save_hash_state(
                upload.id, HashState(generation, upload.size, hasher.serialize())
            )
        return hasher.hexdigest()

    async def close(self) -> None:
        pumps = list(self._pumps.values())
        for pump in pumps:
            pump.stop()
        for pump in pumps:
            with contextlib.suppress(BaseException):
                await pump.task
