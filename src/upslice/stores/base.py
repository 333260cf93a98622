"""The two storage contracts: DataStore holds bytes, MetaStore holds upload records.

The engine speaks only to these; the app factory decides which backends are wired in.
"""

from __future__ import annotations

import abc
import asyncio
import enum
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from upslice.record import HashState, Lease, OutboxEvent, Segment, State, Upload


class StoredKind(enum.StrEnum):
    """Where bytes sit in a store's life cycle."""

    PARTIAL = "partial"  # still receiving
    FILE = "file"  # verified and published
    STAGING = "staging"  # a write in progress (a re-sent chunk written aside)


@dataclass(frozen=True)
class StoredItem:
    """One thing a DataStore holds, as `fsck` sees it without reading any record.

    `key` names the item inside the store (e.g. "staging/<id>.<n>") so that exactly this
    item can be discarded, never the other bytes of the same upload.
    """

    upload_id: str
    kind: StoredKind
    key: str
    size: int
    modified: datetime


class DataStore(abc.ABC):
    """Bytes of uploads, written in place at their offset.

    `min_chunk_size` / `max_chunks` let part-based stores (S3 multipart: 5 MiB parts, at most
    10,000) constrain the chunk size the engine hands out. Optional abilities are flags so that
    protocol front ends can advertise only what the wired-in store can do.
    """

    name: str = "abstract"
    min_chunk_size: int = 1
    max_chunks: int | None = None
    can_concatenate: bool = False
    # False when unfinished bytes cannot be read back (S3 multipart parts): the engine then
    # hashes each chunk from its own spooled copy of the body (engine/spooled.py).
    can_read_partial: bool = True

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Prepare connections or directories."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    @abc.abstractmethod
    async def create(self, upload: Upload) -> dict[str, str]:
        """Reserve room for a new upload; returns private state kept in `upload.store_state`."""

    @abc.abstractmethod
    async def write(
        self, upload: Upload, offset: int, blocks: AsyncIterator[bytes], *, replace: bool
    ) -> int:
        """Write `blocks` at `offset`; return how many bytes were written.

        Every block is written before the next is pulled, so a source that stops early leaves
        all it yielded in place. With `replace`, the range already holds acknowledged bytes:
        they must stay intact until the new bytes are complete (write aside, then swap).
        With `sync`-style settings the store makes the bytes durable before returning.
        """

    @abc.abstractmethod
    def read(self, upload: Upload, start: int, end: int) -> AsyncIterator[bytes]:
        """Stream bytes [start, end) of an upload, finished or not."""

    async def feed(
        self, upload: Upload, start: int, end: int, update: Callable[[bytes | memoryview], None]
    ) -> AsyncIterator[int]:
        """Hand bytes [start, end) to `update` (a hash) off the event loop; yields how many
        bytes each step handed over, so that the caller can report progress between steps.

        This default reads a block, then hashes it: two trips to a thread per block. A store
        that can read and hash in one trip overrides it (see FilesystemStore.feed)."""
        async for block in self.read(upload, start, end):
            await asyncio.to_thread(update, block)
            yield len(block)

    @abc.abstractmethod
    async def finish(self, upload: Upload) -> dict[str, str]:
        """Make a verified upload's bytes visible under their final name."""

    @abc.abstractmethod
    async def share(self, source: Upload, target: Upload) -> dict[str, str]:
        """Give `target` the finished bytes of `source` without sending them again.

        Deleting either afterwards must leave the other intact (hard link, server-side copy).
        Raises NotFound if `source`'s bytes are gone: deleted since its record was read.
        """

    @abc.abstractmethod
    async def drop_received(self, upload: Upload) -> None:
        """Remove the bytes an upload received, once it completed by sharing another's
        (instant upload by proof); its shared bytes stay. Missing bytes are not an error."""

    def stats(self) -> dict[str, int]:
        """Store-specific counters for /health (e.g. bytes read back from object storage)."""
        return {}

    async def keep_copy(self, upload: Upload, start: int, blocks: AsyncIterator[bytes]) -> None:
        """Keep bytes at `start` readable until completion, for a store whose unfinished
        bytes cannot be read (`can_read_partial` False); `read` then serves them."""
        raise NotImplementedError

    async def concatenate(self, target: Upload, parts: Sequence[Upload]) -> dict[str, str]:
        """Join finished partial uploads into `target` (tus concatenation)."""
        raise NotImplementedError

    @abc.abstractmethod
    async def delete(self, upload: Upload) -> None:
        """Remove every byte of the upload; a missing upload is not an error."""

    @abc.abstractmethod
    def stored(self) -> AsyncIterator[StoredItem]:
        """Everything the store holds, so that `fsck` can find orphans.

        Partial bytes come before published files: an upload published during the scan is
        then seen at least once, never missed in both places.
        """

    @abc.abstractmethod
    async def discard(self, item: StoredItem) -> None:
        """Remove exactly `item` (an orphan found by `stored`); a missing item is not an error."""


class MetaStore(abc.ABC):
    """Durable upload records, their received segments, leases and hash checkpoints.

    Segments live apart from the record so that parallel chunk writers never overwrite each
    other's bookkeeping: each adds its own row. Leases and hash checkpoints live here too, so
    that no process holds state that correctness depends on: any worker or node sees them.

    Owner scoping: `owner=None` means the anonymous owner, never "everyone"; only callers that
    pass `any_owner=True` (instant upload with proof, fsck, the sweeper) see every owner.
    A full disk raises `upslice.errors.InsufficientStorage`, never a bare driver error.
    """

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect and create or migrate the schema."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    @abc.abstractmethod
    async def insert(self, upload: Upload, events: Sequence[OutboxEvent] = ()) -> None:
        """Store a new record (its segments included), and `events` for the hook outbox in
        the same transaction: the record never exists without its post-create event."""

    @abc.abstractmethod
    async def get(self, upload_id: str) -> Upload | None:
        """The record with its segments, or None."""

    @abc.abstractmethod
    async def update(self, upload_id: str, **fields: Any) -> bool:
        """Change record fields (never segments); False when the record is gone."""

    @abc.abstractmethod
    async def transition(self, upload_id: str, expected: Iterable[State], new: State) -> bool:
        """Compare-and-set the state; False when another writer got there first."""

    @abc.abstractmethod
    async def put_segment(self, upload_id: str, segment: Segment) -> bool:
        """Record a received range, replacing one that starts at the same offset.

        False (and nothing stored) when the upload's record is gone, e.g. deleted meanwhile.
        """

    @abc.abstractmethod
    async def find_by_content(
        self,
        hash_algorithm: str,
        digest: str,
        size: int,
        states: Iterable[State],
        owner: str | None = None,
        protocol: str | None = None,
        *,
        any_owner: bool = False,
    ) -> Upload | None:
        """Newest upload of `owner` with this content identity in one of `states`."""

    @abc.abstractmethod
    async def list_uploads(
        self,
        owner: str | None,
        *,
        limit: int = 100,
        before: datetime | None = None,
        any_owner: bool = False,
    ) -> list[Upload]:
        """Uploads of `owner`, newest first (created before `before`), with their segments."""

    @abc.abstractmethod
    async def expired(self, now: datetime) -> list[str]:
        """Ids of unfinished uploads whose expiry has passed."""

    @abc.abstractmethod
    async def ids_in_state(self, state: State, *, limit: int = 1000) -> list[str]:
        """Ids of uploads in `state`, oldest update first (crash recovery looks for these)."""

    @abc.abstractmethod
    async def delete(self, upload_id: str, events: Sequence[OutboxEvent] = ()) -> None:
        """Forget an upload, its segments and its hash checkpoint (leases lapse on their own),
        and store `events` for the hook outbox in the same transaction."""

    # ---- leases: short-lived ownership that lapses by itself when its holder dies ----------

    @abc.abstractmethod
    async def acquire_lease(
        self, name: str, holder: str, ttl: float, *, replacing: str | None = None
    ) -> bool:
        """Hold `name` for `ttl` seconds from now (by the store's clock); True on success.

        Succeeds when the lease is free, expired, already held by `holder` (a renewal), or
        held by `replacing` (a holder the caller proved dead). Atomic across processes/nodes.
        """

    @abc.abstractmethod
    async def release_lease(self, name: str, holder: str) -> None:
        """Give up `name` if `holder` still holds it."""

    @abc.abstractmethod
    async def get_lease(self, name: str) -> Lease | None:
        """The live (unexpired) lease on `name`, or None."""

    @abc.abstractmethod
    async def live_leases(self, prefix: str) -> list[Lease]:
        """Every unexpired lease whose name starts with `prefix`."""

    @abc.abstractmethod
    async def purge_leases(self) -> int:
        """Forget leases that expired (the sweeper's housekeeping); returns how many."""

    # ---- the whole-file hash, checkpointed so that any process can continue it -------------

    @abc.abstractmethod
    async def load_hash_state(self, upload_id: str) -> HashState | None:
        """The newest checkpoint of the upload's prefix hash, or None."""

    @abc.abstractmethod
    async def save_hash_state(self, upload_id: str, state: HashState) -> bool:
        """Store `state` only if the stored generation equals `state.generation` (or nothing is
        stored yet and it is 0); False when a reset happened in between."""

    @abc.abstractmethod
    async def reset_hash_state(self, upload_id: str) -> None:
        """Drop the checkpoint and bump its generation: bytes it covered were replaced."""

    # ---- the hook outbox: non-blocking events kept until a receiver took them ------------

    @abc.abstractmethod
    async def append_events(self, events: Sequence[OutboxEvent]) -> None:
        """Store `events` in this order, after every event stored before (their `seq` grows).
        An event whose id is already stored is skipped: a redone step appends it once."""

    @abc.abstractmethod
    async def pending_events(self, limit: int = 100) -> list[OutboxEvent]:
        """The oldest undelivered events, by `seq`, whether their next attempt is due or not."""

    @abc.abstractmethod
    async def event_delivered(self, event_id: str) -> None:
        """Forget an event its receiver took; an unknown id is not an error."""

    @abc.abstractmethod
    async def event_failed(self, event_id: str, next_attempt_at: datetime, error: str) -> None:
        """Count a failed attempt and hold the event back until `next_attempt_at`."""
