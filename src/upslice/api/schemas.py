"""JSON shapes of the tasks API (camelCase, as in the original design)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from upslice import possession
from upslice.api import mediatype
from upslice.record import Upload

MAX_METADATA_BYTES = 16 * 1024
HEX_HASH = r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{64})$"


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class TaskCreate(CamelModel):
    """Strict: a number in quotes or `true` is not a size; the client's bug shows at once."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True
    )

    hash: str | None = Field(
        None,
        description="hex digest of the whole file, computed by the client. Leave it out to "
        "create the task at once and upload while hashing: such a task has `hashPending`, "
        "takes chunks at once and completes once `PUT /api/task/{id}/hash` declares the hash",
        pattern=HEX_HASH,
    )
    file_name: str = Field(min_length=1, max_length=1024)
    file_type: str = Field(
        mediatype.DEFAULT,
        max_length=mediatype.MAX_LENGTH,
        description="RFC 9110 media type; empty means unknown (application/octet-stream)",
    )
    file_size: int = Field(ge=0)
    hash_algorithm: Literal["md5", "sha256"] = Field(
        "md5", description="the algorithm of `hash`, or of the hash declared later"
    )
    chunk_size: int | None = Field(None, gt=0, description="a proposal the server may clamp")
    metadata: dict[str, Any] = Field(default_factory=dict)
    reuse: bool = Field(
        False,
        description="answer with your finished task of the same hash, size and file name "
        "(200) instead of a new instant copy, so a re-upload keeps its id",
    )

    @field_validator("file_type")
    @classmethod
    def header_safe_type(cls, value: str) -> str:
        """The type is sent back as Content-Type on every download: it must fit a header."""
        if not value:
            return mediatype.DEFAULT  # what browsers report for an unknown type
        if not mediatype.is_valid(value):
            raise ValueError(
                "must be a media type such as 'image/png' (RFC 9110 type/subtype with optional "
                ";parameters, ASCII only)"
            )
        return value

    @field_validator("metadata")
    @classmethod
    def small_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Metadata lives in every record read: keep it to a size a database row welcomes."""
        if len(json.dumps(value)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata must stay under {MAX_METADATA_BYTES} bytes as JSON")
        return value


class HashDeclare(CamelModel):
    """The whole-file hash of a task created without one."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True
    )

    hash: str = Field(description="hex digest of the whole file", pattern=HEX_HASH)
    hash_algorithm: Literal["md5", "sha256"] = Field(
        "md5", description="must be the task's `hashAlgorithm`"
    )


class Challenge(CamelModel):
    """Proof-of-possession challenge of an unfinished task (see `POST /api/task/{id}/proof`)."""

    nonce: str = Field(description="32 hex characters, to put before the ranges' bytes")
    ranges: list[tuple[int, int]] = Field(
        description="[start, end) byte ranges of the file, to hash in this order"
    )
    algorithm: Literal["sha256"] = "sha256"


class ProofCreate(CamelModel):
    proof: str = Field(
        pattern=f"^[0-9a-fA-F]{{{possession.PROOF_LENGTH}}}$",
        description="hex sha256 of bytes.fromhex(nonce) + file[r0] + file[r1] + ...",
    )


class Task(CamelModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str
    hash: str | None = Field(
        description="hex digest of the whole file: declared, or computed once complete; null "
        "while unknown and for uploads with hashAlgorithm none"
    )
    hash_algorithm: str = Field(
        description="md5 or sha256; none for a tus or IETF upload that declared no hash or "
        "checksum on a server without --hash-undeclared: its whole file is not hashed"
    )
    hash_pending: bool = Field(
        False,
        description="created without a hash and none declared yet: chunks are taken, but "
        "the task completes only once `PUT /api/task/{id}/hash` declares it",
    )
    file_name: str
    file_type: str
    file_size: int | None
    chunk_size: int
    chunk_count: int
    received_chunks: list[int]
    current_chunk: int
    uploaded_bytes: int
    done: bool
    state: str
    instant: bool
    protocol: str
    created_at: datetime
    expires_at: datetime | None
    metadata: dict[str, Any]
    file_url: str | None = None
    download_url: str | None = Field(
        None,
        description="once done: `fileUrl` signed for a short time (`exp`, `sig`), usable without "
        "a token, e.g. in an `<a href>`",
    )
    challenge: Challenge | None = Field(
        None,
        description="while not done: prove you hold the file to complete it at once (each "
        "answer to create, resume or proof carries a fresh one)",
    )

    @classmethod
    def of(cls, upload: Upload, file_url: str | None, download_url: str | None = None) -> Task:
        return cls(
            id=upload.id,
            hash=upload.hash,
            hash_algorithm=upload.hash_algorithm,
            hash_pending=upload.hash_pending,
            file_name=upload.file_name,
            file_type=upload.file_type,
            file_size=upload.size,
            chunk_size=upload.chunk_size,
            chunk_count=upload.chunk_count,
            received_chunks=upload.received_chunks,
            current_chunk=upload.current_chunk,
            uploaded_bytes=upload.uploaded_bytes,
            done=upload.done,
            state=str(upload.state),
            instant=upload.instant,
            protocol=upload.protocol,
            created_at=upload.created_at,
            expires_at=upload.expires_at,
            metadata=upload.metadata,
            file_url=file_url if upload.done else None,
            download_url=download_url if upload.done else None,
            challenge=None if upload.done else _challenge(upload),
        )


def _challenge(upload: Upload) -> Challenge | None:
    found = possession.stored(upload.extra)
    return None if found is None else Challenge.model_validate(found.to_json())


class TaskList(CamelModel):
    tasks: list[Task]


class ErrorDetail(BaseModel):
    code: str
    message: str
    model_config = ConfigDict(extra="allow")


class ErrorResponse(BaseModel):
    error: ErrorDetail
