"""One error table for the engine; front ends map each code to their protocol's status."""

from __future__ import annotations

from typing import Any


class UploadError(Exception):
    """An engine failure a client can act on: a stable code, a message, and an HTTP status."""

    code = "upload_error"
    status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        body.update(self.details)
        return {"error": body}


class InvalidInput(UploadError):
    code, status = "invalid_input", 400


class NotFound(UploadError):
    code, status = "not_found", 404


class Forbidden(UploadError):
    code, status = "forbidden", 403


class Conflict(UploadError):
    code, status = "conflict", 409


class WrongChunk(Conflict):
    code = "wrong_chunk"


class MissingChunks(Conflict):
    code = "missing_chunks"


class HashMissing(Conflict):
    """A task created without a hash cannot complete before the hash is declared."""

    code = "hash_missing"


class OffsetMismatch(Conflict):
    code = "offset_mismatch"


class Locked(UploadError):
    code, status = "locked", 423


class Gone(UploadError):
    code, status = "gone", 410


class TooLarge(UploadError):
    code, status = "too_large", 413


class UnsupportedMediaType(UploadError):
    code, status = "unsupported_media_type", 415


class ChecksumMismatch(UploadError):
    code, status = "checksum_mismatch", 422


class HashMismatch(UploadError):
    code, status = "hash_mismatch", 422


class InsufficientStorage(UploadError):
    code, status = "insufficient_storage", 507


class ClientGone(UploadError):
    """The request body ended before its declared length: the client went away."""

    code, status = "incomplete_body", 400


class BodyTimeout(ClientGone):
    """The body stalled: no byte for the server's body timeout. Handled like a cut body."""

    code, status = "body_timeout", 408


class Unauthorized(UploadError):
    """No credentials, or credentials that do not verify (answered with WWW-Authenticate)."""

    code, status = "unauthorized", 401


class Unavailable(UploadError):
    """Something the request needs (a key server, a hook) cannot be reached now."""

    code, status = "unavailable", 503


class StoreBusy(UploadError):
    """The storage backend throttles or is briefly unreachable: the client should retry."""

    code, status = "store_busy", 503
