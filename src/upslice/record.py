"""The upload record: one frozen type shared by every front end and store."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from upslice import ranges


class State(enum.StrEnum):
    RECEIVING = "receiving"
    VERIFYING = "verifying"
    COMPLETE = "complete"
    FAILED = "failed"


@dataclass(frozen=True)
class Segment:
    """A received byte range with the digest computed while it arrived."""

    start: int
    end: int
    digest: str = ""  # "crc32c:<hex>" of this range, taken as it arrived

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Lease:
    """Who holds a named lease, and until when (by the MetaStore's clock)."""

    name: str
    holder: str
    expires_at: datetime


@dataclass(frozen=True)
class HashState:
    """A checkpoint of the whole-file hash over bytes [0, offset).

    `state` is the serialized hasher (see `upslice.hashing`); `generation` changes whenever
    bytes below `offset` are replaced, so a checkpoint taken from old bytes can never be saved.
    """

    generation: int
    offset: int
    state: bytes


UNHASHED = "none"  # hash_algorithm of an upload whose whole file nobody asked to hash


@dataclass(frozen=True)
class OutboxEvent:
    """A non-blocking hook event waiting in the MetaStore until a receiver took it.

    `seq` orders events (0 until stored); `payload` is the event's JSON text, built when the
    state changed, so that a retry sends exactly what the first attempt sent.
    """

    id: str
    upload_id: str
    name: str
    payload: str
    seq: int = 0
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class Upload:
    id: str
    protocol: str  # "tasks" or "tus": who created it; both are served by either front end
    owner: str | None
    file_name: str
    file_type: str
    size: int | None  # None while a tus upload defers its length
    hash_algorithm: str
    hash: str | None  # declared (or, once verified, computed) hex digest of the whole file
    chunk_size: int
    state: State
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    metadata: dict[str, Any] = field(default_factory=dict)
    segments: tuple[Segment, ...] = ()
    instant: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # protocol-specific (tus concat, ...)
    store_state: dict[str, str] = field(default_factory=dict)  # private to the DataStore

    @property
    def hashed(self) -> bool:
        """Whether the whole file is hashed: always when a hash was declared or asked for."""
        return self.hash_algorithm != UNHASHED

    @property
    def hash_pending(self) -> bool:
        """A task created before its hash was known: it completes only once one is declared.

        Only the tasks API creates uploads whose hash comes later; tus and the other front
        ends never declare one afterwards, so their hash-less uploads complete as before.
        """
        return self.protocol == "tasks" and self.hash is None and self.hashed and not self.done

    @property
    def done(self) -> bool:
        return self.state is State.COMPLETE

    @property
    def chunk_count(self) -> int:
        return ranges.chunk_count(self.size, self.chunk_size) if self.size is not None else 0

    @property
    def received_chunks(self) -> list[int]:
        """Indexes whose whole chunk has arrived as one segment."""
        if self.size is None:
            return []
        if self.done:
            return list(range(self.chunk_count))
        found = []
        for seg in self.segments:
            index, rest = divmod(seg.start, self.chunk_size)
            if rest == 0 and index < self.chunk_count:
                if (seg.start, seg.end) == ranges.chunk_bounds(index, self.size, self.chunk_size):
                    found.append(index)
        return sorted(found)

    @property
    def current_chunk(self) -> int:
        """First missing chunk index; `chunk_count` when none is missing."""
        have = set(self.received_chunks)
        return next((i for i in range(self.chunk_count) if i not in have), self.chunk_count)

    @property
    def uploaded_bytes(self) -> int:
        if self.done and self.size is not None:
            return self.size
        return ranges.covered((s.start, s.end) for s in self.segments)

    @property
    def offset(self) -> int:
        """Contiguous bytes from the start: what tus calls Upload-Offset."""
        if self.done and self.size is not None:
            return self.size
        return ranges.contiguous_prefix((s.start, s.end) for s in self.segments)

    def evolve(self, **changes: Any) -> Upload:
        return replace(self, **changes)
