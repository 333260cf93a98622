"""Receiving: chunks at their index (tasks API) and appends at an offset (tus, IETF draft).

Who may write where is decided by leases in the MetaStore, never by process memory: a chunk
being written holds `chunk:<id>:<start>`, a tus append holds `append:<id>`. Any worker or node
therefore refuses a second writer of the same bytes, and a dead writer's lease lapses.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from upslice import metrics, ranges
from upslice.engine.completing import Completing
from upslice.engine.inline_hash import inline_hash
from upslice.engine.leases import Busy, Held
from upslice.engine.records import utcnow
from upslice.errors import (
    Conflict,
    Gone,
    InvalidInput,
    Locked,
    NotFound,
    OffsetMismatch,
    TooLarge,
    WrongChunk,
)
from upslice.hashing import Checksum, DigestingStream
from upslice.record import Segment, State, Upload
from upslice.spool import Spool

log = logging.getLogger("upslice.engine")
APPEND_WAIT = 2.0  # how long an append waits for another one to let go before 423


class Receiving(Completing):
    async def write_chunk(
        self,
        upload_id: str,
        index: int,
        body: AsyncIterator[bytes],
        *,
        owner: str | None = None,
        checksum: Checksum | None = None,
        content_length: int | None = None,
    ) -> Upload:
        """Store chunk `index` of a task; completes the task when it was the last one missing."""
        upload = await self.receivable(upload_id, owner)
        if upload.size is None or not 0 <= index < upload.chunk_count:
            raise WrongChunk(
                f"chunk index {index} is outside 0..{upload.chunk_count - 1}",
                chunkCount=upload.chunk_count,
            )
        start, end = ranges.chunk_bounds(index, upload.size, upload.chunk_size)
        if content_length is not None and content_length != end - start:
            raise WrongChunk(
                f"chunk {index} must be {end - start} bytes, the request declares {content_length}",
                expectedSize=end - start,
            )
        hashed = await self._receive(upload, start, end - start, body, checksum)
        upload = await self._after_receive(upload_id, start, hashed=hashed)
        if (
            not upload.done
            and upload.current_chunk == upload.chunk_count
            and not upload.hash_pending
        ):
            upload = await self.complete(upload_id, owner)
        return upload

    async def write_range(
        self,
        upload_id: str,
        start: int,
        length: int,
        body: AsyncIterator[bytes],
        *,
        owner: str | None = None,
        checksum: Checksum | None = None,
    ) -> Upload:
        """Store `length` bytes at `start`, whatever the record's chunk size (the flow.js
        family picks its own, with a last chunk of up to twice that); completes the upload
        when no byte is missing any more."""
        upload = await self.receivable(upload_id, owner)
        if upload.size is None or start < 0 or length < 0 or start + length > upload.size:
            raise WrongChunk(
                f"bytes {start}..{start + length} are outside the {upload.size}-byte upload"
            )
        hashed = await self._receive(upload, start, length, body, checksum)
        upload = await self._after_receive(upload_id, start, hashed=hashed)
        spans = ((s.start, s.end) for s in upload.segments)
        if not upload.done and not upload.hash_pending and not ranges.gaps(spans, upload.size or 0):
            upload = await self.complete(upload_id, owner)
        return upload

    async def append(
        self,
        upload_id: str,
        offset: int,
        body: AsyncIterator[bytes],
        *,
        owner: str | None = None,
        checksum: Checksum | None = None,
        content_length: int | None = None,
        complete: bool = True,
    ) -> Upload:
        """Append at `offset` (tus PATCH); keeps what arrived if the body is cut short.

        Reaching a known length completes the upload unless `complete` is False (the IETF
        draft completes only when a request says so)."""
        await self.get(upload_id, owner)  # 404 before 423 for someone else's upload
        try:
            # A request cut a moment ago may still hold the lease while it records what it
            # kept; its client, resuming at the offset it was just told, waits a moment for
            # it rather than being refused (the draft: a received offset must be usable).
            async with self.leases.waiting(f"append:{upload_id}", APPEND_WAIT) as held:
                hashed = await self._append_leased(
                    held, upload_id, offset, body, owner, checksum, content_length
                )
        except Busy:
            raise Locked(
                "another request is appending to this upload", uploadId=upload_id
            ) from None
        upload = await self._after_receive(upload_id, offset, hashed=hashed)
        if (
            complete
            and upload.size is not None
            and upload.offset == upload.size
            and not upload.done
            and not upload.hash_pending
        ):
            upload = await self.complete(upload_id, owner)
        return upload

    async def _append_leased(
        self,
        held: Held,
        upload_id: str,
        offset: int,
        body: AsyncIterator[bytes],
        owner: str | None,
        checksum: Checksum | None,
        content_length: int | None,
    ) -> bool:
        """The body of `append`, under the upload's append lease; whether it was hashed."""
        upload = await self.receivable(upload_id, owner)  # read under the lease: not stale
        if offset != upload.offset:
            raise OffsetMismatch(
                f"the upload is at offset {upload.offset}, not {offset}", offset=upload.offset
            )
        limit = None if upload.size is None else upload.size - offset
        if content_length is not None and limit is not None and content_length > limit:
            raise TooLarge(f"the body exceeds the {limit} bytes left in the upload")
        return await self._receive_leased(
            held,
            upload,
            offset,
            None,
            body,
            checksum,
            limit=limit,
            keep_partial=True,
            declared_length=content_length,
        )

    async def receivable(self, upload_id: str, owner: str | None) -> Upload:
        upload = await self.get(upload_id, owner)
        if upload.state is State.COMPLETE:
            raise Conflict("the upload is already complete", uploadId=upload_id)
        if upload.state is State.VERIFYING:
            raise Conflict("the upload is being verified", uploadId=upload_id)
        if self.expired(upload):  # the sweeper will remove it: never write into that
            raise Gone("the upload has expired; create it again", uploadId=upload_id)
        return upload

    async def _receive(
        self,
        upload: Upload,
        start: int,
        length: int | None,
        body: AsyncIterator[bytes],
        checksum: Checksum | None,
        *,
        limit: int | None = None,
        keep_partial: bool = False,
    ) -> bool:
        async with self.leases.holding(f"chunk:{upload.id}:{start}") as held:
            if held is None:
                raise Conflict(
                    "this chunk is already being uploaded by another request", offset=start
                )
            # re-read under the chunk's lease: an earlier request may have landed meanwhile
            upload = await self.receivable(upload.id, upload.owner)
            return await self._receive_leased(
                held, upload, start, length, body, checksum, limit=limit, keep_partial=keep_partial
            )

    async def _receive_leased(
        self,
        held: Held,
        upload: Upload,
        start: int,
        length: int | None,
        body: AsyncIterator[bytes],
        checksum: Checksum | None,
        *,
        limit: int | None = None,
        keep_partial: bool = False,
        declared_length: int | None = None,
    ) -> bool:
        """Write and record a body, under a lease that makes this request the only writer of
        these bytes (`chunk:` for a chunk, `append:` for an append) and with `upload` read
        under it. The append lease alone suffices for an append: every append to an upload
        takes it, so no second lease (two more MetaStore writes per request) is needed.

        True when the whole-file hash was checkpointed through this body's end (a small
        file in one body, see inline_hash.py): no pump need look at these bytes again."""
        old = next((s for s in upload.segments if s.start == start), None)
        replace = old is not None  # a re-send: written aside, the acknowledged copy stays
        hash_here = upload.hashed and not self.data.can_read_partial  # S3: hash it here
        spool = Spool() if hash_here else None
        whole = length if length is not None else declared_length
        inline = None if replace or spool else await inline_hash(self.meta, upload, start, whole)
        pump = None if replace or spool or inline else await self.prefixes.feeder(upload, start)
        hasher = pump or inline
        tap = hasher.feed if hasher is not None else spool.tap if spool is not None else None
        stream = DigestingStream(
            body,
            expected_length=length,
            limit=limit,
            checksum=checksum,
            tap=tap,
            keep_partial=keep_partial,
            declared_length=declared_length,
        )
        accepted = False
        try:
            await self.data.write(upload, start, stream.blocks(), replace=replace)
            accepted = True  # the stream raises on any body that must not count
            if spool is not None and stream.received:
                await self.spooled.hash_or_keep(upload, start, spool)
        finally:
            if pump is not None:
                pump.release(accepted)  # a refused body was fed: that hash is unusable
            if spool is not None:
                spool.close()
        if not stream.received:
            return False
        if held.lost:
            raise Conflict("the body took longer than its lease; send it again")
        segment = Segment(start, start + stream.received, stream.digest)
        if not await self.meta.put_segment(upload.id, segment):
            await self.data.delete(upload)  # deleted while we wrote: leave nothing behind
            raise NotFound("the upload was deleted while receiving", uploadId=upload.id)
        self.counters["chunks_received"] += 1
        self.counters["bytes_received"] += stream.received
        metrics.bytes_received(upload.protocol, stream.received)
        if old is not None and old.digest != segment.digest:
            await self.prefixes.invalidate(upload.id)  # bytes it may have hashed changed
        return inline is not None and await inline.save(self.meta, stream.received)

    async def _after_receive(self, upload_id: str, start: int, *, hashed: bool) -> Upload:
        """Refresh the record's times; unless `hashed` (the body's hash is saved already),
        make sure the prefix hash covers the new bytes."""
        now = utcnow()
        expires = now + self.limits.expiry
        if not await self.meta.update(upload_id, updated_at=now, expires_at=expires):
            raise NotFound("the upload was deleted while receiving", uploadId=upload_id)
        upload = await self.meta.get(upload_id)
        if upload is None:
            raise NotFound("the upload was deleted while receiving", uploadId=upload_id)
        if not hashed and start <= upload.offset and not upload.done:  # the prefix grew
            self.prefixes.nudge(upload)
            await self.prefixes.keep_up(upload)
        await self.hooks.progress(upload)
        return upload

    async def declare_length(
        self, upload_id: str, size: int, owner: str | None = None, *, complete: bool = True
    ) -> Upload:
        """Fix the length of an upload created without one; completes it if all bytes are in
        (unless `complete` is False).

        Declaring the length it already has is a no-op; a different one is a Conflict.
        """
        upload = await self.receivable(upload_id, owner)
        if upload.size is not None:
            if upload.size != size:
                raise Conflict(
                    f"the upload's length is already {upload.size}, not {size}", size=upload.size
                )
            return upload
        self.check_size(size)
        received = max((s.end for s in upload.segments), default=0)
        if size < received:
            raise InvalidInput(f"length {size} is shorter than the {received} bytes received")
        now = utcnow()
        await self.meta.update(upload_id, size=size, updated_at=now)
        upload = upload.evolve(size=size, updated_at=now)
        log.info("upload %s declared its length: %d bytes", upload_id, size)
        if complete and upload.offset == size:
            upload = await self.complete(upload_id, owner)
        return upload
