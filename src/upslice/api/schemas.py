"""JSON shapes of the tasks API (camelCase, as in the original design)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from upslice.record import Upload

MAX_METADATA_BYTES = 16 * 1024


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class TaskCreate(CamelModel):
    hash: str = Field(description="hex digest of the whole file, computed by the client")
    file_name: str = Field(min_length=1, max_length=1024)
    file_type: str = Field("application/octet-stream", max_length=255)
    file_size: int = Field(ge=0)
    hash_algorithm: Literal["md5", "sha256"] = "md5"
    chunk_size: int | None = Field(None, gt=0, description="a proposal the server may clamp")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def small_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Metadata lives in every record read: keep it to a size a database row welcomes."""
        if len(json.dumps(value)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata must stay under {MAX_METADATA_BYTES} bytes as JSON")
        return value


class Task(CamelModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str
    hash: str | None
    hash_algorithm: str
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

    @classmethod
    def of(cls, upload: Upload, file_url: str | None) -> Task:
        return cls(
            id=upload.id,
            hash=upload.hash,
            hash_algorithm=upload.hash_algorithm,
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
        )


class TaskList(CamelModel):
    tasks: list[Task]


class ErrorDetail(BaseModel):
    code: str
    message: str
    model_config = ConfigDict(extra="allow")


class ErrorResponse(BaseModel):
    error: ErrorDetail
