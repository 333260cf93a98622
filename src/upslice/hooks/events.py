"""What a hook receives and what a blocking hook may answer.

An event carries the upload record as JSON (never its private `extra` or store state, which
hold the proof-of-possession nonce) and the request that caused it: method, URI and headers,
minus the body and minus credentials (Authorization, Cookie), so a receiver never learns a
caller's token.
"""

from __future__ import annotations

import contextvars
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from upslice.errors import UploadError
from upslice.record import Upload

BLOCKING = ("pre-access", "pre-create", "pre-finish", "pre-terminate")
NON_BLOCKING = (
    "post-create",
    "post-receive",
    "post-finish",
    "post-terminate",
    "post-expire",
)
EVENTS = (*BLOCKING, *NON_BLOCKING)
DEFAULT_EVENTS = tuple(e for e in EVENTS if e != "pre-access")  # pre-access: every request
HIDDEN_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


@dataclass(frozen=True)
class HookRequest:
    """The HTTP request behind an event, as much of it as a hook may see."""

    method: str
    uri: str
    headers: dict[str, str]
    base_url: str  # where this app is served, for the `location` of a finished file

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "uri": self.uri, "headers": self.headers}


current_request: contextvars.ContextVar[HookRequest | None] = contextvars.ContextVar(
    "upslice_hook_request", default=None
)


def upload_json(upload: Upload) -> dict[str, Any]:
    return {
        "id": upload.id,
        "protocol": upload.protocol,
        "owner": upload.owner,
        "fileName": upload.file_name,
        "fileType": upload.file_type,
        "size": upload.size,
        "hashAlgorithm": upload.hash_algorithm,
        "hash": upload.hash,
        "chunkSize": upload.chunk_size,
        "state": str(upload.state),
        "offset": upload.offset,
        "uploadedBytes": upload.uploaded_bytes,
        "instant": upload.instant,
        "createdAt": upload.created_at.isoformat(),
        "updatedAt": upload.updated_at.isoformat(),
        "expiresAt": upload.expires_at.isoformat() if upload.expires_at else None,
        "metadata": upload.metadata,
    }


@dataclass(frozen=True)
class HookEvent:
    """One event: `id` is unique, so a receiver can drop a redelivered event."""

    name: str
    upload: dict[str, Any] | None
    request: HookRequest | None
    id: str = field(default_factory=lambda: secrets.token_hex(16))
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls, name: str, upload: Upload | None, *, event_id: str | None = None, **details: Any
    ) -> HookEvent:
        """An event about `upload` for the request being served (if any)."""
        request = current_request.get()
        if upload is not None and upload.done and request is not None:
            details.setdefault("location", f"{request.base_url}api/task/{upload.id}/file")
        record = None if upload is None else upload_json(upload)
        if event_id is None:
            return cls(name, record, request, details=details)
        return cls(name, record, request, id=event_id, details=details)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.name,
            "id": self.id,
            "time": self.time,
            "upload": self.upload,
            "request": None if self.request is None else self.request.to_json(),
            **self.details,
        }

    def encode(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))

    @classmethod
    def decode(cls, payload: str) -> HookEvent:
        """The event an outbox row keeps (as `encode` wrote it)."""
        data = json.loads(payload)
        name, event_id, time = data.pop("type"), data.pop("id"), data.pop("time")
        upload, request = data.pop("upload"), data.pop("request")
        if request is not None:
            request = HookRequest(request["method"], request["uri"], request["headers"], "")
        return cls(name, upload, request, id=event_id, time=time, details=data)


class Decision(BaseModel):
    """A blocking hook's answer; an empty answer allows. camelCase in JSON, as the API."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    reject: bool = False
    status: int = Field(403, ge=400, le=499, description="the status a refused client gets")
    message: str = "refused by a hook"
    owner: str | None = None  # only when given: model_fields_set tells
    file_name: str | None = None
    metadata: dict[str, str | None] | None = None

    @property
    def sets_owner(self) -> bool:
        return "owner" in self.model_fields_set

    @classmethod
    def parse(cls, text: str | bytes, source: str) -> Decision:
        """A decision from a hook's output; empty output allows, nonsense is a failure."""
        if not text.strip():
            return cls()
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise HookFailed(
                f"the {source} answered something that is no decision: {problems}"
            ) from None


class HookError(UploadError):
    """A blocking hook refused, failed or timed out: the request it guards does not happen."""


class HookRefused(HookError):
    """A blocking hook said no: its status and message go to the client."""

    code = "refused_by_hook"

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.status = status


class HookFailed(HookError):
    """A blocking hook could not be asked or gave no usable answer: refuse, never allow."""

    code, status = "hook_failed", 502


class HookTimeout(HookError):
    code, status = "hook_timeout", 503
