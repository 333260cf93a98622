"""Typed views of what the server returns, and the progress events the client reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass(frozen=True)
class Challenge:
    """What the server asks for to prove the client holds the file (see `upslice.possession`)."""

    nonce: str
    ranges: tuple[tuple[int, int], ...]
    algorithm: str = "sha256"

    @classmethod
    def from_json(cls, data: Any) -> Challenge | None:
        if not isinstance(data, dict):
            return None
        spans = tuple((int(start), int(end)) for start, end in data.get("ranges", ()))
        return cls(str(data["nonce"]), spans, str(data.get("algorithm", "sha256")))


@dataclass(frozen=True)
class Task:
    """One upload as the tasks API describes it (snake_case of its camelCase JSON)."""

    id: str
    hash: str | None
    hash_algorithm: str
    file_name: str
    file_type: str
    file_size: int | None
    chunk_size: int
    chunk_count: int
    received_chunks: tuple[int, ...]
    current_chunk: int
    uploaded_bytes: int
    done: bool
    state: str
    instant: bool = False
    protocol: str = "tasks"
    created_at: datetime | None = None
    expires_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    file_url: str | None = None
    challenge: Challenge | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        return cls(
            id=str(data["id"]),
            hash=data.get("hash"),
            hash_algorithm=str(data.get("hashAlgorithm", "md5")),
            file_name=str(data.get("fileName", "")),
            file_type=str(data.get("fileType", "application/octet-stream")),
            file_size=data.get("fileSize"),
            chunk_size=int(data.get("chunkSize", 0)),
            chunk_count=int(data.get("chunkCount", 0)),
            received_chunks=tuple(int(i) for i in data.get("receivedChunks", ())),
            current_chunk=int(data.get("currentChunk", 0)),
            uploaded_bytes=int(data.get("uploadedBytes", 0)),
            done=bool(data.get("done", False)),
            state=str(data.get("state", "")),
            instant=bool(data.get("instant", False)),
            protocol=str(data.get("protocol", "tasks")),
            created_at=_time(data.get("createdAt")),
            expires_at=_time(data.get("expiresAt")),
            metadata=dict(data.get("metadata") or {}),
            file_url=data.get("fileUrl"),
            challenge=Challenge.from_json(data.get("challenge")),
            raw=data,
        )

    def missing_chunks(self) -> list[int]:
        received = set(self.received_chunks)
        return [i for i in range(self.chunk_count) if i not in received]

    def chunk_range(self, index: int) -> tuple[int, int]:
        """[start, end) of chunk `index`; only the last one may be short."""
        start = index * self.chunk_size
        return start, min(self.file_size or 0, start + self.chunk_size)

    def to_json(self) -> dict[str, Any]:
        return dict(self.raw) if self.raw else {"id": self.id, "done": self.done}


@dataclass(frozen=True)
class Progress:
    """One step of an upload or a download, for progress bars.

    `phase` is "hashing", "proving" (answering the server's possession challenge, which
    may make the upload instant), "uploading", "downloading" or "done"; `done_bytes` counts bytes of
    the current phase already handled (for uploads, including what the server held before).
    `sent_bytes` counts bytes actually put on the wire by this run. `waiting` says why
    retries are going on right now ("server unreachable", "server busy (503)"), else None.
    """

    name: str
    phase: str
    done_bytes: int
    total_bytes: int
    sent_bytes: int = 0
    retries: int = 0
    waiting: str | None = None
