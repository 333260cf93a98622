"""Completion: verify the whole file and publish it, redoably after a crash at any step.

The steps are ordered so that each can be redone: record the intent (state `verifying`, under
the `complete:` lease), hash, publish the bytes (idempotent in every DataStore), commit the
record. A crash anywhere leaves a `verifying` record whose lease lapses (at once when its
holder's process is provably gone); the next request, or the recovery scan, completes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from upslice import metrics, ranges
from upslice.crashpoints import crash_point
from upslice.engine.records import EngineBase, utcnow
from upslice.errors import Conflict, HashMismatch, HashMissing, MissingChunks, NotFound
from upslice.hashing import segment_hasher
from upslice.hashstate import ResumableHasher
from upslice.hooks.events import HookError, HookRefused
from upslice.record import State, Upload

log = logging.getLogger("upslice.engine")
ADOPT = "adoptFrom"  # in `extra` while an instant upload by proof takes another's bytes
WAIT_FOR_OTHER = 120.0  # how long a completion waits for one already running elsewhere
POLL = 0.02


class Completing(EngineBase):
    async def complete(self, upload_id: str, owner: str | None = None) -> Upload:
        """Verify the whole file and publish it; idempotent once complete.

        If another request, worker or node is completing it, wait for that one's result
        (taking over at once if its process died) rather than failing.
        """
        upload = await self.get(upload_id, owner)
        if upload.done:
            return upload
        self._check_complete(upload)
        deadline = time.monotonic() + WAIT_FOR_OTHER
        while True:
            async with self.leases.holding(f"complete:{upload_id}") as held:
                if held is not None:
                    return await self._complete_holding(upload_id, owner)
            current = await self.get(upload_id, owner)
            if current.done:
                return current
            if current.state is not State.VERIFYING:  # the other attempt failed: try ourselves
                self._check_complete(current)
            if time.monotonic() > deadline:
                raise Conflict("the upload is being completed by another request")
            await asyncio.sleep(POLL)  # polling the record: the other completer is elsewhere

    def _check_complete(self, upload: Upload) -> None:
        if ADOPT in upload.extra:
            return  # its bytes come from the upload it adopts, not from its own chunks
        if upload.size is None:
            raise Conflict("the upload's length is not known yet", uploadId=upload.id)
        missing = ranges.gaps(((s.start, s.end) for s in upload.segments), upload.size)
        if missing:
            raise MissingChunks(
                "some chunks have not been received",
                missingChunks=sorted(
                    {
                        i
                        for a, b in missing
                        for i in range(a // upload.chunk_size, -(-b // upload.chunk_size))
                    }
                ),
                missingRanges=[[a, b] for a, b in missing],
            )
        if upload.hash_pending:
            raise HashMissing(
                "every chunk is in, but the file's hash has not been declared yet",
                uploadId=upload.id,
            )

    async def _complete_holding(self, upload_id: str, owner: str | None) -> Upload:
        """Under the completion lease: any `verifying` state was left by a dead attempt."""
        upload = await self.get(upload_id, owner)
        if upload.done:
            return upload
        if upload.state is State.VERIFYING and ADOPT in upload.extra:
            return await self.finish_adoption(upload)  # a crash cut an instant upload short
        self._check_complete(upload)
        expected = [State.RECEIVING, State.FAILED, State.VERIFYING]
        if not await self.meta.transition(upload_id, expected, State.VERIFYING):
            return await self.get(upload_id, owner)
        crash_point("complete:verifying")
        published = False
        try:
            upload = await self._settled(upload_id)
            digest = await self._verified_digest(upload)
            await self.hooks.check("pre-finish", upload.evolve(hash=digest))
            crash_point("complete:hashed")
            store_state = await self.data.finish(upload)
            published = True
            crash_point("complete:published")
            done = await self._commit(upload, hash=digest, store_state=store_state)
            crash_point("complete:committed")
        except HashMismatch:
            await self.meta.transition(upload_id, [State.VERIFYING], State.FAILED)
            metrics.upload_failed(upload.protocol)
            await self.prefixes.invalidate(upload_id)
            raise
        except HookRefused:  # the app said no: failed, its bytes stay for a look or a delete
            await self.meta.transition(upload_id, [State.VERIFYING], State.FAILED)
            raise
        except BaseException:
            if not published:  # once published, only going forward is safe: leave it verifying
                await asyncio.shield(
                    self.meta.transition(upload_id, [State.VERIFYING], State.RECEIVING)
                )
            raise
        log.info("completed upload %s (%s %s)", upload_id, upload.hash_algorithm, digest)
        return done

    async def _commit(self, upload: Upload, **fields: Any) -> Upload:
        """The last step of a completion: the record says complete, with `fields`."""
        changes = {"state": State.COMPLETE, "updated_at": utcnow(), "expires_at": None, **fields}
        done = upload.evolve(**changes)
        # Before the commit, under a fixed id: once published, a crash is redone up to here,
        # so the event is stored at least once and never for a file that is not published.
        await self.hooks.notify("post-finish", done, event_id=f"{upload.id}.post-finish")
        await self.meta.update(upload.id, **changes)
        metrics.upload_completed(upload.protocol)
        self.prefixes.forget(upload.id)
        return done

    async def finish_adoption(self, upload: Upload) -> Upload:
        """Redoable end of an instant upload by proof: share the source's bytes, commit, and
        only then drop the bytes this upload had received itself."""
        source = await self.meta.get(str(upload.extra[ADOPT]))
        extra = {k: v for k, v in upload.extra.items() if k != ADOPT}
        if source is None or not source.done:  # gone meanwhile: back to a normal upload
            return await self._receiving_again(upload, extra)
        adopted = upload.evolve(state=State.COMPLETE, hash=source.hash, instant=True, extra=extra)
        try:
            store_state = await self.data.share(source, adopted)
        except NotFound:  # deleted between reading its record and sharing its bytes
            return await self._receiving_again(upload, extra)
        done = await self._commit(
            adopted, hash=source.hash, instant=True, extra=extra, store_state=store_state
        )
        await self.data.drop_received(upload)
        return done

    async def _receiving_again(self, upload: Upload, extra: dict[str, Any]) -> Upload:
        """An adoption whose source is gone: a normal upload again, with its own chunks."""
        await self.meta.update(upload.id, extra=extra)
        await self.meta.transition(upload.id, [State.VERIFYING], State.RECEIVING)
        return await self.get(upload.id, upload.owner)

    async def _settled(self, upload_id: str) -> Upload:
        """The record once writes that began before verification have landed.

        New writes are refused in the verifying state; a chunk or an append already under way
        (on any process: its lease says so) must not change bytes while they are hashed.
        """
        while await self.meta.live_leases(f"chunk:{upload_id}:") or await self.meta.live_leases(
            f"append:{upload_id}"
        ):
            await asyncio.sleep(POLL)  # polling the leases: the writers may be on other nodes
        upload = await self.meta.get(upload_id)
        if upload is None:
            raise NotFound("the upload was deleted during completion", uploadId=upload_id)
        return upload

    async def _verified_digest(self, upload: Upload) -> str | None:
        if not upload.hashed:
            return None  # nobody declared a hash or asked for one: nothing to compute
        deadline = time.monotonic() + WAIT_FOR_OTHER
        try:
            digest = await self.prefixes.digest(upload, deadline)
        except NotFound:
            if self.data.can_read_partial:
                raise
            raise Conflict(  # S3: bytes that were never hashed on arrival cannot be read
                "bytes were replaced by different ones after they were hashed, and object "
                "storage cannot read an unfinished upload back; create the upload again",
                uploadId=upload.id,
            ) from None
        if digest is None:
            raise Conflict("the file's hash is still being computed elsewhere; try again")
        readable = self.data.can_read_partial  # S3: unfinished parts cannot be read back
        if upload.hash is not None and digest != upload.hash and readable:
            digest = await self._reread_digest(upload)  # never trust a checkpoint over the bytes
        if upload.hash is not None and digest != upload.hash:
            raise HashMismatch(
                "the assembled file's hash differs from the declared one"
                + ("" if readable else "; create the upload again"),
                expected=upload.hash,
                actual=digest,
                hashAlgorithm=upload.hash_algorithm,
                resendChunks=await self._corrupted_chunks(upload) if readable else [],
            )
        return digest

    async def _reread_digest(self, upload: Upload) -> str:
        assert upload.size is not None
        hasher = ResumableHasher(upload.hash_algorithm)
        async for _ in self.data.feed(upload, 0, upload.size, hasher.update):
            pass
        return hasher.hexdigest()

    async def _corrupted_chunks(self, upload: Upload) -> list[int]:
        """Chunks whose stored bytes no longer match the digest taken when they arrived."""
        bad = []
        for seg in upload.segments:
            hasher = segment_hasher(seg.digest)
            # read(), not feed(): google-crc32c takes bytes, not a view of a reused buffer
            async for block in self.data.read(upload, seg.start, seg.end):
                await asyncio.to_thread(hasher.update, block)
            if hasher.hexdigest() != seg.digest:
                bad.append(seg.start // upload.chunk_size)
        return bad

    async def recover(self) -> int:
        """Finish completions that a crash left `verifying`; returns how many it finished."""
        finished = 0
        for upload_id in await self.meta.ids_in_state(State.VERIFYING):
            upload = await self.meta.get(upload_id)
            if upload is None or upload.state is not State.VERIFYING:
                continue
            lease = await self.meta.get_lease(f"complete:{upload_id}")
            if lease is not None and not self.leases.is_dead(lease.holder):
                continue  # someone is on it
            try:
                await self.complete(upload_id, upload.owner)
                finished += 1
                log.info("recovered the completion of %s", upload_id)
            except (MissingChunks, HashMissing):  # never complete: its client finishes it
                await self.meta.transition(upload_id, [State.VERIFYING], State.RECEIVING)
            except (HashMismatch, Conflict, NotFound, HookError) as exc:
                log.warning("recovering %s: %s", upload_id, exc.message)
        return finished
