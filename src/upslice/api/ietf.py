"""The IETF "Resumable Uploads for HTTP" draft (interop version 8) at the tus resources.

A request is a draft request when it carries `Upload-Draft-Interop-Version`. Creation is a POST
to /files/ with `Upload-Complete`; the upload resource is /files/{id} (HEAD/GET offset
retrieval, PATCH with `application/partial-upload`, DELETE cancellation). Integrity uses RFC 9530
`Repr-Digest` (whole upload) and `Content-Digest` (one request). Creation announces the upload
with a 104 interim response before reading the body (see `upslice.api.interim`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from upslice.api.identity import owner_of
from upslice.api.interim import send_interim
from upslice.api.tasks import present
from upslice.api.tus_common import (
    INTEROP_VERSION,
    TrackedBody,
    content_length,
    has_body,
    live_upload,
    media_type,
)
from upslice.engine import Engine, utcnow
from upslice.errors import (
    HashMismatch,
    InvalidInput,
    OffsetMismatch,
    TooLarge,
    UnsupportedMediaType,
    UploadError,
    WrongChunk,
)
from upslice.hashing import CHECKSUM_ALGORITHMS, FILE_HASHES, HEX_LENGTH, Checksum
from upslice.record import Upload

PARTIAL_UPLOAD = "application/partial-upload"
PROBLEM_TYPES = "https://iana.org/assignments/http-problem-types#"
MISMATCHING_OFFSET = PROBLEM_TYPES + "mismatching-upload-offset"
INCONSISTENT_LENGTH = PROBLEM_TYPES + "inconsistent-upload-length"
# RFC 9530 algorithm keys and the hashlib names behind them (md5 and sha are deprecated there,
# accepted for clients that still send them).
DIGESTS = {"sha-256": "sha256", "md5": "md5", "sha": "sha1"}
DIGEST_KEYS = {name: key for key, name in DIGESTS.items()}
_INTEGER = re.compile(r"^\d{1,15}$")
_FILENAME_STAR = re.compile(r"filename\*\s*=\s*([\w!#$%&+^`{}~-]*)'[\w-]*'([^;\s]+)", re.I)
_FILENAME = re.compile(r'filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))', re.I)


class InconsistentLength(InvalidInput):
    code = "inconsistent_upload_length"


def is_draft(request: Request) -> bool:
    return "upload-draft-interop-version" in request.headers


def check_interop(request: Request) -> None:
    version = request.headers.get("upload-draft-interop-version", "").strip()
    if version != INTEROP_VERSION:
        raise InvalidInput(
            f"Upload-Draft-Interop-Version {version!r} is not supported; "
            f"this server implements {INTEROP_VERSION}",
            supported=[int(INTEROP_VERSION)],
        )


# ---- structured fields (RFC 9651), just the shapes the draft uses --------------------------


def sf_boolean(value: str | None) -> bool | None:
    """An Item Boolean; anything else makes the field ignored (None)."""
    item = None if value is None else value.split(";")[0].strip()
    return {"?1": True, "?0": False}.get(item or "")


def sf_integer(value: str | None) -> int | None:
    """A non-negative Item Integer; anything else makes the field ignored (None)."""
    item = None if value is None else value.split(";")[0].strip()
    return int(item) if item and _INTEGER.match(item) else None


def sf_digests(header: str, name: str) -> dict[str, bytes]:
    """An RFC 9530 digest Dictionary: `sha-256=:<base64>:, md5=:<base64>:`."""
    found: dict[str, bytes] = {}
    for member in header.split(","):
        key, sep, value = member.strip().partition("=")
        value = value.split(";")[0].strip()
        if not sep or len(value) < 2 or value[0] != ":" or value[-1] != ":":
            raise InvalidInput(f"{name} must be a dictionary of :base64: byte sequences")
        try:
            found[key.strip().lower()] = base64.b64decode(value[1:-1], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"{name}: {key.strip()} is not valid base64") from None
    return found


def repr_digest(request: Request) -> tuple[str, str | None]:
    """(algorithm, hex) the whole upload must hash to; sha256 (unverified) without one."""
    header = request.headers.get("repr-digest")
    digests = sf_digests(header, "Repr-Digest") if header else {}
    for key, digest in digests.items():
        algorithm = DIGESTS.get(key)
        if algorithm in FILE_HASHES:
            if len(digest) != HEX_LENGTH[algorithm] // 2:
                raise InvalidInput(
                    f"Repr-Digest: a {key} digest has {HEX_LENGTH[algorithm] // 2} bytes"
                )
            return algorithm, digest.hex()
    return "sha256", None  # unknown algorithms may be ignored (RFC 9530 section 2)


def content_digest(request: Request) -> Checksum | None:
    header = request.headers.get("content-digest")
    for key, digest in (sf_digests(header, "Content-Digest") if header else {}).items():
        algorithm = DIGESTS.get(key)
        if algorithm in CHECKSUM_ALGORITHMS:
            if len(digest) != HEX_LENGTH[algorithm] // 2:
                raise InvalidInput(
                    f"Content-Digest: a {key} digest has {HEX_LENGTH[algorithm] // 2} bytes"
                )
            return Checksum(algorithm, digest)
    return None


def disposition_name(header: str | None) -> str:
    """The file name of a `Content-Disposition` (filename* preferred, RFC 6266)."""
    if not header:
        return ""
    if star := _FILENAME_STAR.search(header):
        return unquote(star[2], encoding=star[1] or "utf-8", errors="replace")
    if plain := _FILENAME.search(header):
        return plain[1].replace('\\"', '"') if plain[1] is not None else plain[2]
    return ""


# ---- responses -----------------------------------------------------------------------------


def limit_header(engine: Engine, upload: Upload | None = None) -> str:
    limits = f"max-size={engine.limits.max_file_size}"
    if upload is not None and not upload.done and upload.expires_at is not None:
        limits += f", max-age={max(0, int((upload.expires_at - utcnow()).total_seconds()))}"
    return limits


def required_boolean(request: Request) -> bool:
    complete = sf_boolean(request.headers.get("upload-complete"))
    if complete is None:
        raise InvalidInput("Upload-Complete must be ?0 or ?1")
    return complete


def error(request: Request, exc: UploadError) -> Response:
    """Engine errors as RFC 9457 problem details, with the draft's types where it has them."""
    body: dict[str, Any] = {"type": "about:blank", "title": exc.message, "status": exc.status}
    body["code"] = exc.code
    body.update({k: v for k, v in exc.details.items() if k != "location"})
    complete = isinstance(exc, HashMismatch)  # the whole upload arrived; processing failed
    headers = {"Upload-Complete": "?1" if complete else "?0"}
    if isinstance(exc, OffsetMismatch):
        body["type"] = MISMATCHING_OFFSET
        body["expected-offset"] = exc.details.get("offset")
        body["provided-offset"] = sf_integer(request.headers.get("upload-offset"))
        headers["Upload-Offset"] = str(exc.details.get("offset"))
    elif isinstance(exc, InconsistentLength):
        body["type"] = INCONSISTENT_LENGTH
    if exc.status == 413:
        headers["Upload-Limit"] = limit_header(request.app.state.engine)
    if request.method == "HEAD":
        return Response(status_code=exc.status, headers=headers)
    return JSONResponse(
        body, status_code=exc.status, headers=headers, media_type="application/problem+json"
    )


def progress(
    request: Request, engine: Engine, upload: Upload, status: int, location: str | None = None
) -> Response:
    """An unfinished upload's state; a finished one answers like the resource it created."""
    headers = {"Upload-Offset": str(upload.offset), "Upload-Limit": limit_header(engine, upload)}
    if location is not None:
        headers["Location"] = location
    if not upload.done:
        headers["Upload-Complete"] = "?0"
        return Response(status_code=status, headers=headers)
    headers["Upload-Complete"] = "?1"
    if upload.hash and upload.hash_algorithm in DIGEST_KEYS:
        encoded = base64.b64encode(bytes.fromhex(upload.hash)).decode()
        headers["Repr-Digest"] = f"{DIGEST_KEYS[upload.hash_algorithm]}=:{encoded}:"
    task = present(request, upload).model_dump(mode="json", by_alias=True)
    return JSONResponse(task, status_code=201 if location else 200, headers=headers)


# ---- the draft's operations ----------------------------------------------------------------


async def create(
    request: Request, engine: Engine, url_of: Callable[[Request, str], str]
) -> Response:
    check_interop(request)
    complete = required_boolean(request)
    owner = await owner_of(request)
    length = sf_integer(request.headers.get("upload-length"))
    declared = content_length(request)
    if complete and declared is not None:
        if length is not None and length != declared:
            raise InconsistentLength(
                f"Upload-Length {length} differs from Content-Length {declared}"
            )
        length = declared
    if length is not None and length > engine.limits.max_file_size:
        raise TooLarge(f"the upload exceeds the limit of {engine.limits.max_file_size} bytes")
    algorithm, digest = repr_digest(request)
    checksum = content_digest(request)
    upload = await engine.new_upload(
        protocol="ietf",
        owner=owner,
        file_name=disposition_name(request.headers.get("content-disposition")),
        file_type=media_type(request) or "application/octet-stream",
        size=length,
        hash_algorithm=algorithm,
        digest=digest,
        extra={"interop": int(INTEROP_VERSION)},
    )
    location = url_of(request, upload.id)
    send_interim(
        request,
        104,
        "Upload Resumption Supported",
        {
            "Location": location,
            "Upload-Draft-Interop-Version": INTEROP_VERSION,
            "Upload-Limit": limit_header(engine, upload),
        },
    )
    try:
        upload = await receive(request, engine, upload, complete, checksum, owner)
    except UploadError as exc:
        exc.details["location"] = location
        raise
    return progress(request, engine, upload, 201, location)


async def head(request: Request, engine: Engine, upload_id: str) -> Response:
    check_interop(request)
    upload = await live_upload(request, upload_id)
    headers = {
        "Upload-Offset": str(upload.offset),
        "Upload-Complete": "?1" if upload.done else "?0",
        "Upload-Limit": limit_header(engine, upload),
        "Cache-Control": "no-store",
    }
    if upload.size is not None:
        headers["Upload-Length"] = str(upload.size)
    return Response(status_code=204, headers=headers)


async def append(request: Request, engine: Engine, upload_id: str) -> Response:
    check_interop(request)
    if media_type(request) != PARTIAL_UPLOAD:
        raise UnsupportedMediaType(f"appends must be {PARTIAL_UPLOAD}", accepted=[PARTIAL_UPLOAD])
    offset = sf_integer(request.headers.get("upload-offset"))
    if offset is None:
        raise InvalidInput("Upload-Offset must be a non-negative integer")
    complete = required_boolean(request)
    checksum = content_digest(request)
    owner = await owner_of(request)
    upload = await live_upload(request, upload_id)
    if upload.done and offset == upload.offset and not has_body(request):
        return progress(request, engine, upload, 200)  # a lost final response, replayed
    if offset != upload.offset:
        raise OffsetMismatch(
            f"the upload is at offset {upload.offset}, not {offset}", offset=upload.offset
        )
    if upload.done:
        raise InconsistentLength("the upload is complete; nothing can be appended")
    length = sf_integer(request.headers.get("upload-length"))
    declared = content_length(request)
    if complete and declared is not None:
        if length is not None and length != offset + declared:
            raise InconsistentLength(f"Upload-Length {length} differs from the end of this body")
        length = offset + declared
    if length is not None and upload.size is not None and length != upload.size:
        raise InconsistentLength(f"the upload's length is {upload.size}, not {length}")
    if length is not None and upload.size is None:
        if length > engine.limits.max_file_size:
            raise TooLarge(f"the upload exceeds the limit of {engine.limits.max_file_size} bytes")
        upload = await engine.declare_length(upload.id, length, owner)
    upload = await receive(request, engine, upload, complete, checksum, owner)
    return progress(request, engine, upload, 204)


async def receive(
    request: Request,
    engine: Engine,
    upload: Upload,
    complete: bool,
    checksum: Checksum | None,
    owner: str | None,
) -> Upload:
    """Append the body at the upload's offset; with `complete`, finish the upload after it."""
    body = TrackedBody(request)
    try:
        if has_body(request) and not upload.done:
            declared = content_length(request)
            if (
                upload.size is None
                and upload.offset + (declared or 0) > engine.limits.max_file_size
            ):
                raise TooLarge("the body would pass the server's maximum upload size")
            try:
                upload = await engine.append(
                    upload.id,
                    upload.offset,
                    body.stream(),
                    owner=owner,
                    checksum=checksum,
                    content_length=declared,
                )
            except (TooLarge, WrongChunk) as exc:
                if upload.size is None:
                    raise
                raise InconsistentLength(f"the body runs past the length of {upload.size}") from exc
        else:
            body.whole = True
        if not body.whole or not complete or upload.done:
            return upload  # a cut body never completes an upload
        if upload.size is None:
            return await engine.declare_length(upload.id, upload.offset, owner)
        if upload.offset != upload.size:
            raise InconsistentLength(
                f"Upload-Complete: ?1 at offset {upload.offset}, but the length is {upload.size}"
            )
        return await engine.complete(upload.id, owner)
    except HashMismatch:
        await engine.delete(upload.id, owner)
        raise
