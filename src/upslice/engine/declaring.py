"""Declaring the hash of a task created without one, while or after its chunks arrive.

A client that hashes beside the upload creates its task at once and declares the hash when it
knows it. Declaring may finish the task on the spot: as an instant upload when the caller
already holds a finished file with that content identity (its own bytes are then dropped), or
by the usual completion when every chunk is already in. Across owners nothing is revealed:
the answer then looks like any other, and only a proof of possession can make it instant.
"""

from __future__ import annotations

import asyncio
import logging
import time

from upslice import ranges
from upslice.engine.completing import POLL, WAIT_FOR_OTHER
from upslice.engine.creating import Creating
from upslice.errors import Conflict
from upslice.hashing import normalize_file_hash
from upslice.record import State, Upload

log = logging.getLogger("upslice.engine")


class Declaring(Creating):
    async def declare_hash(
        self, upload_id: str, owner: str | None, digest: str, algorithm: str
    ) -> Upload:
        """Record the task's whole-file hash; the same one again changes nothing, another one
        is a Conflict.

        The record is changed under the `complete:` lease, the one completion holds, so a
        declaration and a completion never interleave on any worker or node.
        """
        upload = await self.get(upload_id, owner)
        if algorithm != upload.hash_algorithm:
            raise Conflict(
                f"this task hashes with {upload.hash_algorithm}, not {algorithm}",
                hashAlgorithm=upload.hash_algorithm,
            )
        digest = normalize_file_hash(algorithm, digest)
        deadline = time.monotonic() + WAIT_FOR_OTHER
        while True:
            if self._already(upload, digest):
                return await self._redeclared(upload)
            async with self.leases.holding(f"complete:{upload_id}") as held:
                if held is not None:
                    upload = await self.get(upload_id, owner)  # fresh, under the lease
                    if self._already(upload, digest):
                        break
                    if not upload.hash_pending or upload.state is not State.RECEIVING:
                        raise Conflict(
                            "only an unfinished task can take a hash", uploadId=upload_id
                        )
                    await self.meta.update(upload_id, hash=digest)
                    break
            if time.monotonic() > deadline:
                raise Conflict("the task is being completed by another request")
            await asyncio.sleep(POLL)  # another declaration holds the lease, maybe elsewhere
            upload = await self.get(upload_id, owner)
        if upload.hash is not None:  # declared meanwhile, with this same hash
            return await self._redeclared(upload)
        log.info("task %s declared its %s: %s", upload_id, algorithm, digest)
        return await self._after_declaring(upload.evolve(hash=digest))

    async def _redeclared(self, upload: Upload) -> Upload:
        """The same hash again: nothing changes, but what a first declaration would have
        done next is done if it is still due (a crash may have cut it short)."""
        if upload.state is not State.RECEIVING:
            return upload
        return await self._after_declaring(upload)

    @staticmethod
    def _already(upload: Upload, digest: str) -> bool:
        """True if `upload` already has this hash; a Conflict if it has another one."""
        if upload.hash is None:
            return False
        if upload.hash != digest:
            raise Conflict(
                "the task's hash is already declared, with another value",
                hash=upload.hash,
                hashAlgorithm=upload.hash_algorithm,
            )
        return True

    async def _after_declaring(self, upload: Upload) -> Upload:
        assert upload.size is not None and upload.hash is not None
        finished = await self.meta.find_by_content(
            upload.hash_algorithm, upload.hash, upload.size, [State.COMPLETE], owner=upload.owner
        )
        if finished is not None:  # the caller's own file: instant upload takes over
            return await self.adopt(upload, finished)
        current = await self.get(upload.id, upload.owner)
        spans = ((s.start, s.end) for s in current.segments)
        if not current.done and not ranges.gaps(spans, upload.size):
            return await self.complete(upload.id, upload.owner)
        return current if current.done else await self.challenged(current)
