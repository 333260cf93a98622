"""The two storage contracts: DataStore holds bytes, MetaStore holds upload records.

The engine speaks only to these; the app factory decides which backends are wired in.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

from upslice.record import Segment, State, Upload


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

    @abc.abstractmethod
    async def finish(self, upload: Upload) -> dict[str, str]:
        """Make a verified upload's bytes visible under their final name."""

    @abc.abstractmethod
    async def share(self, source: Upload, target: Upload) -> dict[str, str]:
        """Give `target` the finished bytes of `source` without sending them again.

        Deleting either afterwards must leave the other intact (hard link, server-side copy).
        """

    async def concatenate(self, target: Upload, parts: Sequence[Upload]) -> dict[str, str]:
        """Join finished partial uploads into `target` (tus concatenation)."""
        raise NotImplementedError

    @abc.abstractmethod
    async def delete(self, upload: Upload) -> None:
        """Remove every byte of the upload; a missing upload is not an error."""


class MetaStore(abc.ABC):
    """Durable upload records and their received segments.

    Segments live apart from the record so that parallel chunk writers never overwrite each
    other's bookkeeping: each adds its own row.
    """

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect and create the schema."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    @abc.abstractmethod
    async def insert(self, upload: Upload) -> None:
        """Store a new record (its segments included)."""

    @abc.abstractmethod
    async def get(self, upload_id: str) -> Upload | None:
        """The record with its segments, or None."""

    @abc.abstractmethod
    async def update(self, upload_id: str, **fields: Any) -> None:
        """Change record fields (never segments)."""

    @abc.abstractmethod
    async def transition(self, upload_id: str, expected: Iterable[State], new: State) -> bool:
        """Compare-and-set the state; False when another writer got there first."""

    @abc.abstractmethod
    async def put_segment(self, upload_id: str, segment: Segment) -> None:
        """Record a received range, replacing one that starts at the same offset."""

    @abc.abstractmethod
    async def find_by_content(
        self,
        hash_algorithm: str,
        digest: str,
        size: int,
        states: Iterable[State],
        owner: str | None = None,
        protocol: str | None = None,
    ) -> Upload | None:
        """Newest upload with this content identity in one of `states` (owner-scoped if given)."""

    @abc.abstractmethod
    async def list_uploads(
        self, owner: str | None, *, limit: int = 100, before: datetime | None = None
    ) -> list[Upload]:
        """Uploads of `owner` (all when None), newest first, with their segments."""

    @abc.abstractmethod
    async def expired(self, now: datetime) -> list[str]:
        """Ids of unfinished uploads whose expiry has passed."""

    @abc.abstractmethod
    async def delete(self, upload_id: str) -> None:
        """Forget an upload and its segments."""
