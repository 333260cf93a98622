"""The IETF "Resumable Uploads for HTTP" draft (interop versions 3 to 8) at the tus resources.

A request is a draft request when it carries `Upload-Draft-Interop-Version`; its value picks the
dialect (`upslice.api.ietf_dialects`) the request is read and answered in. Creation is a POST
to /files/ with `Upload-Complete` (`Upload-Incomplete` in version 3); the upload resource is
/files/{id} (HEAD/GET offset retrieval, PATCH appends, DELETE cancellation). Integrity uses
RFC 9530 `Repr-Digest` (whole upload) and `Content-Digest` (one request). Creation announces the
upload with a 104 interim response before reading the body (see `upslice.api.interim`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from upslice.api import mediatype
from upslice.api.identity import owner_of
from upslice.api.ietf_dialects import DIALECTS, LATEST, Dialect, dialect_of
from upslice.api.interim import send_interim
from upslice.api.tasks import present
from upslice.api.tus_common import (
    TrackedBody,
    content_length,
    file_hash_algorithm,
    has_body,
    limit_metadata,
    live_upload,
    media_type,
)
from upslice.engine import Engine, utcnow
from upslice.errors import (
    Conflict,
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
# RFC 9530 algorithm keys and the hashlib names behind them (md5 and sha are deprecated there,
# accepted for clients that still send them).
DIGESTS = {"sha-256": "sha256", "md5": "md5", "sha": "sha1"}
DIGEST_KEYS = {name: key for key, name in DIGESTS.items()}
_INTEGER = re.compile(r"^\d{1,15}$")
_FILENAME_STAR = re.compile(r"filename\*\s*=\s*([\w!#$%&+^`{}~-]*)'[\w-]*'([^;\s]+)", re.I)
_FILENAME = re.compile(r'filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))', re.I)


class InconsistentLength(InvalidInput):
    code = "inconsistent_upload_length"
    problem = "inconsistent-upload-length"


class CompletedUpload(Conflict):
    code = "completed_upload"
    problem = "completed-upload"


def is_draft(request: Request) -> bool:
    return "upload-draft-interop-version" in request.headers


def reject_state_headers(request: Request, dialect: Dialect) -> None:
    """Drafts -01 to -05 forbid the upload's state headers on HEAD and DELETE."""
    if dialect.rejects_state_headers:
        if sent := [name for name in dialect.state_headers() if name in request.headers]:
            raise InvalidInput(
                f"a {request.method} must not carry {', '.join(sent)} "
                f"(interop version {dialect.version})"
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
    limit_metadata(header, "Content-Disposition")  # the draft's only metadata header
    if star := _FILENAME_STAR.search(header):
        return unquote(star[2], encoding=star[1] or "utf-8", errors="replace")
    if plain := _FILENAME.search(header):
        return plain[1].replace('\\"', '"') if plain[1] is not None else plain[2]
    return ""


# ---- responses -----------------------------------------------------------------------------


def limit_header(engine: Engine, upload: Upload | None = None, age_key: str = "max-age") -> str:
    limits = f"max-size={engine.limits.max_file_size}"
    if upload is not None and not upload.done and upload.expires_at is not None:
        limits += f", {age_key}={max(0, int((upload.expires_at - utcnow()).total_seconds()))}"
    return limits


def limits(engine: Engine, dialect: Dialect, upload: Upload | None = None) -> dict[str, str]:
    """`Upload-Limit`, in the versions that have it."""
    if not dialect.upload_limit:
        return {}
    return {"Upload-Limit": limit_header(engine, upload, dialect.age_key)}


def completes(request: Request, dialect: Dialect, *, creating: bool) -> bool:
    """Whether the request ends the upload, in its dialect's terms."""
    header = request.headers.get(dialect.flag)
    value = sf_boolean(header)
    if value is None and (header is not None or creating or dialect.flag_required_on_append):
        raise InvalidInput(f"{dialect.flag} must be ?0 or ?1")
    if value is None:  # -01: no Upload-Incomplete is the end; -02 to -05: only ?1 is
        return dialect.inverted
    return value != dialect.inverted


def error(request: Request, exc: UploadError) -> Response:
    """Engine errors as RFC 9457 problem details, with the draft's types where it has them.

    Under `about:blank` the title is the status phrase (RFC 9457 section 4.2.1); what went
    wrong is in `detail`.
    """
    version = request.headers.get("upload-draft-interop-version", "").strip()
    dialect = DIALECTS.get(int(version) if version.isdigit() else 0, DIALECTS[LATEST])
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(exc.status).phrase,
        "status": exc.status,
        "detail": exc.message,
        "code": exc.code,
    }
    body.update({k: v for k, v in exc.details.items() if k != "location"})
    complete = isinstance(exc, HashMismatch)  # the whole upload arrived; processing failed
    headers = {dialect.flag: dialect.flag_value(complete)}
    problem = "mismatching-upload-offset" if isinstance(exc, OffsetMismatch) else None
    problem = getattr(exc, "problem", problem)
    if problem in dialect.typed_problems:
        body["type"] = PROBLEM_TYPES + problem
        body["title"] = problem.replace("-", " ").capitalize()
    if isinstance(exc, OffsetMismatch):
        body["expected-offset"] = exc.details.get("offset")
        body["provided-offset"] = sf_integer(request.headers.get("upload-offset"))
        headers["Upload-Offset"] = str(exc.details.get("offset"))
    if exc.status == 413:
        headers.update(limits(request.app.state.engine, dialect))
    if request.method == "HEAD":
        return Response(status_code=exc.status, headers=headers)
    return JSONResponse(
        body, status_code=exc.status, headers=headers, media_type="application/problem+json"
    )


def progress(
    request: Request,
    engine: Engine,
    dialect: Dialect,
    upload: Upload,
    status: int,
    location: str | None = None,
) -> Response:
    """An unfinished upload's state; a finished one answers like the resource it created."""
    headers = {"Upload-Offset": str(upload.offset), **limits(engine, dialect, upload)}
    if location is not None:
        headers["Location"] = location
    headers[dialect.flag] = dialect.flag_value(upload.done)
    if not upload.done:
        return Response(status_code=status, headers=headers)
    if upload.hash and upload.hash_algorithm in DIGEST_KEYS:
        encoded = base64.b64encode(bytes.fromhex(upload.hash)).decode()
        headers["Repr-Digest"] = f"{DIGEST_KEYS[upload.hash_algorithm]}=:{encoded}:"
    task = present(request, upload).model_dump(mode="json", by_alias=True)
    done_status = 201 if location else dialect.completed_status
    return JSONResponse(task, status_code=done_status, headers=headers)


# ---- the draft's operations ----------------------------------------------------------------


async def create(
    request: Request, engine: Engine, url_of: Callable[[Request, str], str]
) -> Response:
    dialect = dialect_of(request)
    complete = completes(request, dialect, creating=True)
    owner = await owner_of(request)
    length = declared_length(request, dialect)
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
        file_type=mediatype.checked(media_type(request) or mediatype.DEFAULT, "Content-Type"),
        size=length,
        hash_algorithm=file_hash_algorithm(request, algorithm, digest),
        digest=digest,
        extra={"interop": dialect.version},
    )
    location = url_of(request, upload.id)
    interim = {"Location": location, "Upload-Draft-Interop-Version": str(dialect.version)}
    send_interim(
        request, 104, "Upload Resumption Supported", interim | limits(engine, dialect, upload)
    )
    try:
        upload = await receive(request, engine, upload, complete, checksum, owner)
    except UploadError as exc:
        exc.details["location"] = location
        raise
    return progress(request, engine, dialect, upload, 201, location)


def declared_length(request: Request, dialect: Dialect) -> int | None:
    """`Upload-Length`, in the versions that define it (from draft-05, interop version 6)."""
    return sf_integer(request.headers.get("upload-length")) if dialect.upload_length else None


async def head(request: Request, engine: Engine, upload_id: str) -> Response:
    dialect = dialect_of(request)
    reject_state_headers(request, dialect)
    upload = await live_upload(request, upload_id)
    headers = {
        "Upload-Offset": str(upload.offset),
        dialect.flag: dialect.flag_value(upload.done),
        **limits(engine, dialect, upload),
        "Cache-Control": "no-store",
    }
    if upload.size is not None and dialect.upload_length:
        headers["Upload-Length"] = str(upload.size)
    return Response(status_code=204, headers=headers)


def check_cancel(request: Request) -> None:
    """A DELETE in the draft: the version must be one we speak, and -01 to -05 rules hold."""
    reject_state_headers(request, dialect_of(request))


async def append(request: Request, engine: Engine, upload_id: str) -> Response:
    dialect = dialect_of(request)
    if dialect.partial_upload_type and media_type(request) != PARTIAL_UPLOAD:
        raise UnsupportedMediaType(f"appends must be {PARTIAL_UPLOAD}", accepted=[PARTIAL_UPLOAD])
    offset = sf_integer(request.headers.get("upload-offset"))
    if offset is None:
        raise InvalidInput("Upload-Offset must be a non-negative integer")
    complete = completes(request, dialect, creating=False)
    checksum = content_digest(request)
    owner = await owner_of(request)
    upload = await live_upload(request, upload_id)
    if upload.done and offset == upload.offset and not has_body(request):
        return progress(request, engine, dialect, upload, 200)  # a lost final response
    if upload.done:
        raise CompletedUpload("the upload is complete; nothing can be appended")
    if offset != upload.offset:
        raise OffsetMismatch(
            f"the upload is at offset {upload.offset}, not {offset}", offset=upload.offset
        )
    length = declared_length(request, dialect)
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
        upload = await engine.declare_length(upload.id, length, owner, complete=False)
    upload = await receive(request, engine, upload, complete, checksum, owner)
    return progress(request, engine, dialect, upload, dialect.append_status)


async def receive(
    request: Request,
    engine: Engine,
    upload: Upload,
    complete: bool,
    checksum: Checksum | None,
    owner: str | None,
) -> Upload:
    """Append the body at the upload's offset; with `complete`, finish the upload after it.

    Reaching a known length does not complete the upload: only a request that says so does.
    """
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
                    complete=False,
                )
            except (TooLarge, WrongChunk) as exc:
                if upload.size is None:
                    raise
                raise InconsistentLength(f"the body runs past the length of {upload.size}") from exc
            body.raise_if_stalled()
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
