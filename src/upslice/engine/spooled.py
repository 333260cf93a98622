"""The whole-file hash for stores that cannot read unfinished bytes back (S3 multipart).

S3 cannot read the parts of an unfinished multipart upload, so the pump's read-back (see
prefix.py) is impossible there. Instead each request keeps its own chunk, spooled to a bounded
local temp file as it arrives, and continues the hash itself: it waits until the MetaStore
checkpoint reaches its chunk's start (its predecessors hashed theirs), then, under the upload's
`hash:` lease, loads the serialized state, hashes its spool and saves the state (a generation
CAS). So whichever node extends the prefix continues the hash, and nothing is read back.

Only a chunk that waits past `hash_wait` (its predecessors are far behind or were lost with a
node) is kept as a copy in the store; whoever later extends the prefix to it reads that copy
back (counted in the store's stats), or the completion does.

The request hashes before it records its segment: a crash can then leave a checkpoint one
chunk ahead of the recorded bytes, whose re-send (the same bytes of the same file) is then
simply not hashed again; the reverse order could leave recorded bytes that nobody can hash.
"""

from __future__ import annotations

import asyncio
import logging
import time

from upslice.engine.leases import Leases
from upslice.errors import NotFound
from upslice.hashstate import ResumableHasher
from upslice.record import HashState, Upload
from upslice.spool import Spool
from upslice.stores.base import DataStore, MetaStore

log = logging.getLogger("upslice.spooled")
POLL = 0.02


class SpooledHashes:
    """Continues an upload's checkpointed hash from spooled chunks, on whichever process."""

    def __init__(self, data: DataStore, meta: MetaStore, leases: Leases, wait: float) -> None:
        self.data = data
        self.meta = meta
        self.leases = leases
        self.wait = wait  # how long a chunk waits for its predecessors before it is kept

    async def hash_or_keep(self, upload: Upload, start: int, spool: Spool) -> None:
        """Hash bytes [start, start + spool.size) once the checkpoint reaches `start`;
        past `wait`, keep them in the store for whoever gets there later."""
        deadline = time.monotonic() + self.wait
        kept = False
        while True:
            state = await self.meta.load_hash_state(upload.id)
            at = state.offset if state is not None else 0
            if at > start:
                return  # hashed already (a re-send of the bytes of a chunk hashed before)
            if at == start and await self._continue(upload, start, spool):
                return
            if kept:
                return  # a copy is in the store: the predecessor, or completion, hashes it
            if time.monotonic() > deadline:
                await self.data.keep_copy(upload, start, spool.blocks())
                log.info("upload %s: chunk at %d kept aside for the hash", upload.id, start)
                kept = True  # look once more: the predecessor may have finished meanwhile
                continue
            await asyncio.sleep(POLL)  # polling: predecessors may be hashed on other nodes

    async def _continue(self, upload: Upload, start: int, spool: Spool) -> bool:
        async with self.leases.holding(f"hash:{upload.id}") as held:
            if held is None:
                return False
            state = await self.meta.load_hash_state(upload.id)
            generation = state.generation if state is not None else 0
            if (state.offset if state is not None else 0) != start:
                return (state.offset if state is not None else 0) > start
            hasher = (
                ResumableHasher.deserialize(state.state)
                if state is not None and state.state
                else ResumableHasher(upload.hash_algorithm)
            )
            async for block in spool.blocks():
                await asyncio.to_thread(hasher.update, block)
            end, hasher = await self._chain(upload, start + spool.size, hasher)
            saved = await self.meta.save_hash_state(
                upload.id, HashState(generation, end, hasher.serialize())
            )
            if not saved:
                log.info("hash of %s was reset meanwhile; this chunk's hash is void", upload.id)
            return True

    async def _chain(
        self, upload: Upload, end: int, hasher: ResumableHasher
    ) -> tuple[int, ResumableHasher]:
        """Go on through chunks that waited too long and were kept in the store."""
        while True:
            current = await self.meta.get(upload.id)
            following = next(
                (s for s in (current.segments if current else ()) if s.start == end), None
            )
            if current is None or following is None:
                return end, hasher
            trial = ResumableHasher.deserialize(hasher.serialize())
            try:
                async for block in self.data.read(current, following.start, following.end):
                    await asyncio.to_thread(trial.update, block)
            except NotFound:
                return end, hasher  # not kept: its own request is about to hash it
            hasher, end = trial, following.end
