"""The upload engine: records, chunks, offsets, hashes, limits and expiry. It speaks no HTTP."""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from upslice import ranges
from upslice.errors import (
    Conflict,
    Gone,
    HashMismatch,
    InvalidInput,
    Locked,
    MissingChunks,
    NotFound,
    OffsetMismatch,
    TooLarge,
    WrongChunk,
)
from upslice.hashing import Checksum, Crc32, DigestingStream, normalize_file_hash
from upslice.prefix import PrefixHash, Reader
from upslice.record import Segment, State, Upload
from upslice.stores.base import DataStore, MetaStore

log = logging.getLogger("upslice.engine")
STALE_VERIFY = timedelta(minutes=5)  # a verification this old was cut by a crash


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_upload_id() -> str:
    """128 random bits, never derived from the content.

    Base32 in lower case: URL-safe, easy to read aloud and copy, and never starting with "-"
    (which a shell command would take for an option).
    """
    return base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


@dataclass(frozen=True)
class Limits:
    min_chunk_size: int = 256 * 1024
    default_chunk_size: int = 5 * 1024 * 1024
    max_chunk_size: int = 64 * 1024 * 1024
    max_file_size: int = 100 * 1024**3
    expiry: timedelta = timedelta(hours=24)


@dataclass
class TaskSpec:
    """What a client declares when it creates a task."""

    hash: str
    file_name: str
    file_type: str
    file_size: int
    hash_algorithm: str = "md5"
    chunk_size: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class Engine:
    def __init__(self, data: DataStore, meta: MetaStore, limits: Limits | None = None) -> None:
        self.data = data
        self.meta = meta
        self.limits = limits or Limits()
        self._prefixes: dict[str, PrefixHash] = {}
        self._inflight: set[tuple[str, int]] = set()
        self._appending: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self.counters: dict[str, int] = {"chunks_received": 0, "bytes_received": 0}

    async def open(self) -> None:
        await self.data.open()
        await self.meta.open()

    async def close(self) -> None:
        await self.meta.close()
        await self.data.close()

    # ---- records -------------------------------------------------------------------------

    async def get(self, upload_id: str, owner: str | None = None) -> Upload:
        upload = await self.meta.get(upload_id)
        if upload is None or (upload.owner is not None and upload.owner != owner):
            raise NotFound("no such upload (it may have expired)", uploadId=upload_id)
        return upload

    async def list_uploads(
        self, owner: str | None, *, limit: int = 100, before: datetime | None = None
    ) -> list[Upload]:
        return await self.meta.list_uploads(owner, limit=limit, before=before)

    def chunk_size_for(self, size: int, proposal: int | None) -> int:
        """Clamp a client's proposal to the server's and the store's bounds."""
        lower = max(self.limits.min_chunk_size, self.data.min_chunk_size)
        upper = max(lower, self.limits.max_chunk_size)
        chunk = min(max(proposal or self.limits.default_chunk_size, lower), upper)
        if self.data.max_chunks is not None:  # S3: at most 10,000 parts
            chunk = max(chunk, -(-size // self.data.max_chunks))
        return chunk

    def _check_size(self, size: int) -> None:
        if size < 0:
            raise InvalidInput("file size cannot be negative")
        if size > self.limits.max_file_size:
            raise TooLarge(
                f"file size {size} exceeds the limit of {self.limits.max_file_size} bytes",
                maxFileSize=self.limits.max_file_size,
            )

    async def new_upload(
        self,
        *,
        protocol: str,
        owner: str | None,
        file_name: str,
        file_type: str,
        size: int | None,
        hash_algorithm: str = "md5",
        digest: str | None = None,
        chunk_size: int | None = None,
        metadata: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        store: bool = True,
    ) -> Upload:
        """Create and persist a receiving upload (the common part of every protocol)."""
        if size is not None:
            self._check_size(size)
        now = utcnow()
        upload = Upload(
            id=new_upload_id(),
            protocol=protocol,
            owner=owner,
            file_name=file_name,
            file_type=file_type,
            size=size,
            hash_algorithm=hash_algorithm,
            hash=digest,
            chunk_size=self.chunk_size_for(size or 0, chunk_size),
            state=State.RECEIVING,
            created_at=now,
            updated_at=now,
            expires_at=now + self.limits.expiry,
            metadata=metadata or {},
            extra=extra or {},
        )
        if store:
            upload = upload.evolve(store_state=await self.data.create(upload))
        await self.meta.insert(upload)
        log.info("created %s upload %s (%s bytes)", protocol, upload.id, size)
        return upload

    async def create_task(self, spec: TaskSpec, owner: str | None = None) -> tuple[Upload, bool]:
        """Create, resume or instantly complete a task; the bool says whether it is new."""
        digest = normalize_file_hash(spec.hash_algorithm, spec.hash)
        self._check_size(spec.file_size)
        resumable = await self.meta.find_by_content(
            spec.hash_algorithm,
            digest,
            spec.file_size,
            [State.RECEIVING, State.FAILED],
            owner=owner,
            protocol="tasks",
        )
        if resumable is not None and not self._expired(resumable):
            return resumable, False
        finished = await self.meta.find_by_content(
            spec.hash_algorithm, digest, spec.file_size, [State.COMPLETE]
        )
        if finished is not None:
            return await self._instant(spec, digest, owner, finished), True
        upload = await self.new_upload(
            protocol="tasks",
            owner=owner,
            file_name=spec.file_name,
            file_type=spec.file_type,
            size=spec.file_size,
            hash_algorithm=spec.hash_algorithm,
            digest=digest,
            chunk_size=spec.chunk_size,
            metadata=spec.metadata,
        )
        if spec.file_size == 0:
            upload = await self.complete(upload.id, owner)
        return upload, True

    async def _instant(
        self, spec: TaskSpec, digest: str, owner: str | None, source: Upload
    ) -> Upload:
        now = utcnow()
        upload = Upload(
            id=new_upload_id(),
            protocol="tasks",
            owner=owner,
            file_name=spec.file_name,
            file_type=spec.file_type,
            size=spec.file_size,
            hash_algorithm=spec.hash_algorithm,
            hash=digest,
            chunk_size=self.chunk_size_for(spec.file_size, spec.chunk_size),
            state=State.COMPLETE,
            created_at=now,
            updated_at=now,
            expires_at=None,
            metadata=spec.metadata,
            instant=True,
        )
        upload = upload.evolve(store_state=await self.data.share(source, upload))
        await self.meta.insert(upload)
        log.info("instant upload %s shares the bytes of %s", upload.id, source.id)
        return upload

    def _expired(self, upload: Upload) -> bool:
        return upload.expires_at is not None and upload.expires_at < utcnow()

    # ---- receiving -----------------------------------------------------------------------

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
        upload = await self._receivable(upload_id, owner)
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
        await self._receive(upload, start, end - start, body, checksum)
        upload = await self._after_receive(upload_id)
        if not upload.done and upload.current_chunk == upload.chunk_count:
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
    ) -> Upload:
        """Append at `offset` (tus PATCH); keeps what arrived if the body is cut short."""
        if upload_id in self._appending:
            raise Locked("another request is appending to this upload", uploadId=upload_id)
        self._appending.add(upload_id)
        try:  # the offset is read under the append lock, so it cannot be stale
            upload = await self._receivable(upload_id, owner)
            if offset != upload.offset:
                raise OffsetMismatch(
                    f"the upload is at offset {upload.offset}, not {offset}", offset=upload.offset
                )
            limit = None if upload.size is None else upload.size - offset
            if content_length is not None and limit is not None and content_length > limit:
                raise TooLarge(f"the body exceeds the {limit} bytes left in the upload")
            await self._receive(
                upload, offset, None, body, checksum, limit=limit, keep_partial=True
            )
        finally:
            self._appending.discard(upload_id)
        upload = await self._after_receive(upload_id)
        if upload.size is not None and upload.offset == upload.size and not upload.done:
            upload = await self.complete(upload_id, owner)
        return upload

    async def _receivable(self, upload_id: str, owner: str | None) -> Upload:
        upload = await self.get(upload_id, owner)
        if upload.state is State.COMPLETE:
            raise Conflict("the upload is already complete", uploadId=upload_id)
        if upload.state is State.VERIFYING:
            raise Conflict("the upload is being verified", uploadId=upload_id)
        if self._expired(upload):  # the sweeper will remove it: never write into that
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
    ) -> None:
        key = (upload.id, start)
        if key in self._inflight:
            raise Conflict("this chunk is already being uploaded by another request", offset=start)
        self._inflight.add(key)
        try:  # re-read under the chunk's in-flight mark: an earlier request may have landed
            upload = await self._receivable(upload.id, upload.owner)
        except BaseException:
            self._inflight.discard(key)
            raise
        replace = any(s.start == start for s in upload.segments)  # a re-send: write aside
        prefix = self._prefix(upload)
        feeds_prefix = not replace and prefix.claim(start)
        stream = DigestingStream(
            body,
            expected_length=length,
            limit=limit,
            checksum=checksum,
            tap=prefix.feed if feeds_prefix else None,
            keep_partial=keep_partial,
        )
        accepted = False
        try:
            await self.data.write(upload, start, stream.blocks(), replace=replace)
            accepted = True  # the stream raises on any body that must not count
            if stream.received:
                end = start + stream.received
                old = next((s for s in upload.segments if s.start == start), None)
                await self.meta.put_segment(upload.id, Segment(start, end, stream.digest))
                self.counters["chunks_received"] += 1
                self.counters["bytes_received"] += stream.received
                if old is not None and old.digest != stream.digest and prefix.queued > start:
                    self._drop_prefix(upload.id)  # bytes it hashed were replaced
        finally:
            self._inflight.discard(key)
            if feeds_prefix:
                prefix.release(accepted)  # a refused body was fed: that hash is unusable

    async def _after_receive(self, upload_id: str) -> Upload:
        upload = await self.meta.get(upload_id)
        if upload is None:
            raise NotFound("the upload was deleted while receiving", uploadId=upload_id)
        now = utcnow()
        await self.meta.update(upload_id, updated_at=now, expires_at=now + self.limits.expiry)
        prefix = self._prefix(upload)
        prefix.catch_up(upload.offset, self._reader(upload))
        await prefix.keep_up(upload.offset)
        return upload.evolve(updated_at=now, expires_at=now + self.limits.expiry)

    def _prefix(self, upload: Upload) -> PrefixHash:
        prefix = self._prefixes.get(upload.id)
        if prefix is None or prefix.broken:
            prefix = self._prefixes[upload.id] = PrefixHash(upload.hash_algorithm)
        return prefix

    def _drop_prefix(self, upload_id: str) -> None:
        prefix = self._prefixes.pop(upload_id, None)
        if prefix is not None:
            prefix.close()

    def _reader(self, upload: Upload) -> Reader:
        return lambda start, end: self.data.read(upload, start, end)

    # ---- completion ----------------------------------------------------------------------

    async def complete(self, upload_id: str, owner: str | None = None) -> Upload:
        """Verify the whole file and publish it; idempotent once complete."""
        upload = await self.get(upload_id, owner)
        if upload.done:
            return upload
        if upload.size is None:
            raise Conflict("the upload's length is not known yet", uploadId=upload_id)
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
        lock = self._locks.setdefault(upload_id, asyncio.Lock())
        async with lock:
            expected = [State.RECEIVING, State.FAILED]
            if upload.state is State.VERIFYING and utcnow() - upload.updated_at > STALE_VERIFY:
                expected.append(State.VERIFYING)
            if not await self.meta.transition(upload_id, expected, State.VERIFYING):
                current = await self.get(upload_id, owner)
                if current.done:
                    return current
                raise Conflict("the upload is being completed by another request")
            try:
                upload = await self._settled(upload_id)
                return await self._verify_and_publish(upload)
            except HashMismatch:
                await self.meta.transition(upload_id, [State.VERIFYING], State.FAILED)
                raise
            except BaseException:
                await self.meta.transition(upload_id, [State.VERIFYING], State.RECEIVING)
                raise
            finally:
                self._locks.pop(upload_id, None)

    async def _settled(self, upload_id: str) -> Upload:
        """The record once writes that began before verification have landed.

        New writes are refused in the verifying state; a re-sent chunk already under way must
        not change bytes while they are hashed.
        """
        while any(key[0] == upload_id for key in self._inflight):
            await asyncio.sleep(0.01)
        upload = await self.meta.get(upload_id)
        if upload is None:
            raise NotFound("the upload was deleted during completion", uploadId=upload_id)
        return upload

    async def _verify_and_publish(self, upload: Upload) -> Upload:
        digest = await self._whole_digest(upload, trust_cache=True)
        if upload.hash is not None and digest != upload.hash:
            digest = await self._whole_digest(upload, trust_cache=False)
        if upload.hash is not None and digest != upload.hash:
            bad = await self._corrupted_chunks(upload)
            raise HashMismatch(
                "the assembled file's hash differs from the declared one",
                expected=upload.hash,
                actual=digest,
                hashAlgorithm=upload.hash_algorithm,
                resendChunks=bad,
            )
        store_state = await self.data.finish(upload)
        now = utcnow()
        await self.meta.update(
            upload.id,
            state=State.COMPLETE,
            hash=digest,
            updated_at=now,
            expires_at=None,
            store_state=store_state,
        )
        self._drop_prefix(upload.id)
        log.info("completed upload %s (%s %s)", upload.id, upload.hash_algorithm, digest)
        return upload.evolve(
            state=State.COMPLETE,
            hash=digest,
            updated_at=now,
            expires_at=None,
            store_state=store_state,
        )

    async def _whole_digest(self, upload: Upload, *, trust_cache: bool) -> str:
        assert upload.size is not None
        if trust_cache:
            digest = await self._prefix(upload).digest(upload.size, self._reader(upload))
            if digest is not None:
                return digest
        self._drop_prefix(upload.id)  # start over from the stored bytes
        digest = await self._prefix(upload).digest(upload.size, self._reader(upload))
        if digest is None:
            raise Conflict("the file could not be read back for verification")
        return digest

    async def _corrupted_chunks(self, upload: Upload) -> list[int]:
        """Chunks whose stored bytes no longer match the digest taken when they arrived."""
        bad = []
        for seg in upload.segments:
            hasher = Crc32()
            async for block in self.data.read(upload, seg.start, seg.end):
                await asyncio.to_thread(hasher.update, block)
            if hasher.hexdigest() != seg.digest:
                bad.append(seg.start // upload.chunk_size)
        return bad

    # ---- removal -------------------------------------------------------------------------

    async def delete(self, upload_id: str, owner: str | None = None) -> None:
        upload = await self.get(upload_id, owner)
        await self._remove(upload)

    async def _remove(self, upload: Upload) -> None:
        await self.meta.delete(upload.id)
        await self.data.delete(upload)
        self._drop_prefix(upload.id)
        log.info("removed upload %s", upload.id)

    async def sweep(self, now: datetime | None = None) -> int:
        """Remove unfinished uploads whose expiry has passed; returns how many."""
        removed = 0
        for upload_id in await self.meta.expired(now or utcnow()):
            upload = await self.meta.get(upload_id)
            if upload is not None and upload.state is not State.COMPLETE:
                await self._remove(upload)
                removed += 1
        if removed:
            log.info("expiry sweep removed %d upload(s)", removed)
        return removed

    async def download(self, upload_id: str, owner: str | None = None) -> Upload:
        upload = await self.get(upload_id, owner)
        if not upload.done:
            raise Conflict("the upload is not complete yet", uploadId=upload_id)
        return upload

    # ---- length and concatenation (tus creation-defer-length / concatenation, IETF draft) ----

    async def declare_length(self, upload_id: str, size: int, owner: str | None = None) -> Upload:
        """Fix the length of an upload created without one; completes it if all bytes are in.

        Declaring the length it already has is a no-op; a different one is a Conflict.
        """
        upload = await self._receivable(upload_id, owner)
        if upload.size is not None:
            if upload.size != size:
                raise Conflict(
                    f"the upload's length is already {upload.size}, not {size}", size=upload.size
                )
            return upload
        self._check_size(size)
        received = max((s.end for s in upload.segments), default=0)
        if size < received:
            raise InvalidInput(f"length {size} is shorter than the {received} bytes received")
        now = utcnow()
        await self.meta.update(upload_id, size=size, updated_at=now)
        upload = upload.evolve(size=size, updated_at=now)
        log.info("upload %s declared its length: %d bytes", upload_id, size)
        if upload.offset == size:
            upload = await self.complete(upload_id, owner)
        return upload

    async def concatenate(
        self,
        part_ids: list[str],
        *,
        owner: str | None,
        file_name: str,
        file_type: str,
        hash_algorithm: str = "md5",
        digest: str | None = None,
        metadata: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Upload:
        """A new complete upload made of finished `part_ids`, joined by the DataStore.

        The joined file is read back once to compute (and, if `digest` is given, verify) its
        hash; on any failure the new upload is removed and the parts stay untouched.
        """
        if not self.data.can_concatenate:
            raise InvalidInput("this server's data store cannot concatenate uploads")
        parts = [await self.get(part_id, owner) for part_id in part_ids]
        unfinished = [part.id for part in parts if not part.done]
        if unfinished:
            raise Conflict("some partial uploads are not finished", unfinished=unfinished)
        size = sum(part.size or 0 for part in parts)
        upload = await self.new_upload(
            protocol="tus",
            owner=owner,
            file_name=file_name,
            file_type=file_type,
            size=size,
            hash_algorithm=hash_algorithm,
            digest=digest,
            metadata=metadata,
            extra=extra,
        )
        try:
            store_state = await self.data.concatenate(upload, parts)
            await self.meta.update(upload.id, store_state=store_state)
            await self.meta.put_segment(upload.id, Segment(0, size, ""))
            return await self.complete(upload.id, owner)
        except BaseException:
            current = await self.meta.get(upload.id)
            if current is not None:
                await self._remove(current)
            raise
