"""The engine's foundation: limits, identities, record lookup (owner-scoped) and creation."""

from __future__ import annotations

import base64
import contextlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from upslice import metrics
from upslice.engine.leases import Leases
from upslice.engine.prefix import PrefixHashes
from upslice.engine.spooled import SpooledHashes
from upslice.errors import InsufficientStorage, InvalidInput, NotFound, TooLarge
from upslice.hooks.runner import HookRunner
from upslice.logcontext import about_upload
from upslice.record import OutboxEvent, State, Upload
from upslice.stores.base import DataStore, MetaStore

log = logging.getLogger("upslice.engine")


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
    lease_seconds: float = 5.0  # how long a dead process may block an upload at most
    hash_wait: float = 15.0  # S3: how long a chunk waits for its predecessors' hash (spooled.py)


class EngineBase:
    """What every part of the engine shares. Holds no state that correctness depends on:
    in-flight marks, locks and hash progress are leases and checkpoints in the MetaStore."""

    def __init__(self, data: DataStore, meta: MetaStore, limits: Limits | None = None) -> None:
        self.data = data
        self.meta = meta
        self.limits = limits or Limits()
        self.leases = Leases(meta, self.limits.lease_seconds)
        self.prefixes = PrefixHashes(data, meta, self.leases)
        # bodies_cut: bodies refused because they ended early (an append keeps its part
        # instead), counted once the server is done with them, locks released: tests wait on it.
        # requests_in_flight: a gauge kept by api.inflight.InFlight.
        self.counters: dict[str, int] = {
            "chunks_received": 0,
            "bytes_received": 0,
            "bodies_cut": 0,
            "requests_in_flight": 0,
        }
        self.hooks = HookRunner(None, (), meta)  # the app factory wires the configured hooks
        self.spooled = SpooledHashes(data, meta, self.leases, self.limits.hash_wait)

    async def open(self) -> None:
        await self.data.open()
        await self.meta.open()

    async def close(self) -> None:
        await self.prefixes.close()
        await self.meta.close()
        await self.data.close()

    async def get(self, upload_id: str, owner: str | None = None) -> Upload:
        """The upload if `owner` owns it; anonymous uploads belong to anonymous callers only."""
        upload = await self.meta.get(upload_id)
        if upload is None or upload.owner != owner:
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

    def check_size(self, size: int) -> None:
        if size < 0:
            raise InvalidInput("file size cannot be negative")
        if size > self.limits.max_file_size:
            raise TooLarge(
                f"file size {size} exceeds the limit of {self.limits.max_file_size} bytes",
                maxFileSize=self.limits.max_file_size,
            )

    def expired(self, upload: Upload) -> bool:
        return upload.expires_at is not None and upload.expires_at < utcnow()

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
        upload_id: str | None = None,
    ) -> Upload:
        """Create and persist a receiving upload (the common part of every protocol).

        Bytes are reserved before the record exists; if the record cannot be stored, they are
        removed again, so a failed create never leaves an orphan behind. `upload_id` is for a
        front end whose protocol names uploads by a key of its own (the flow.js family).
        """
        if size is not None:
            self.check_size(size)
        now = utcnow()
        upload = Upload(
            id=upload_id or new_upload_id(),
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
        upload = await self.hooks.before_create(upload)  # may refuse, or change owner/name
        if store:
            upload = upload.evolve(store_state=await self.data.create(upload))
        try:
            await self.meta.insert(upload, self.hooks.outbox_events("post-create", upload))
        except BaseException:
            if store:
                with contextlib.suppress(Exception):
                    await self.data.delete(upload)
            raise
        about_upload(upload.id)
        metrics.upload_created(protocol)
        log.info("created %s upload %s (%s bytes)", protocol, upload.id, size)
        self.hooks.queued()
        return upload

    async def remove(self, upload: Upload, events: Sequence[OutboxEvent] = ()) -> None:
        """Forget an upload and its bytes (storing hook `events` with the record's removal).
        On a full disk the bytes go first, which frees the room the database needs to forget
        the record (deleting is the only way out)."""
        try:
            await self.meta.delete(upload.id, events)
        except InsufficientStorage:
            await self.data.delete(upload)
            await self.meta.delete(upload.id, events)
        else:
            await self.data.delete(upload)
        if events:
            self.hooks.queued()
        self.prefixes.forget(upload.id)
        log.info("removed upload %s", upload.id)
