"""tus 1.0 at /files/: core, creation (with upload, deferred length), termination,
concatenation, expiration and checksum, over the same engine and records as the tasks API.

Requests that carry `Upload-Draft-Interop-Version` speak the IETF resumable-upload draft
instead; the same resources serve them through `upslice.api.ietf`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse, Response

from upslice.api import ietf
from upslice.api.allow import allow_header
from upslice.api.downloads import file_response
from upslice.api.errors import connection_headers
from upslice.api.identity import owner_of
from upslice.api.trailers import announces_checksum, checked_by_trailer
from upslice.api.tus_common import (
    PATCH_TYPE,
    SUPPORTED_VERSIONS,
    TUS_VERSION,
    Concat,
    Metadata,
    TrackedBody,
    capability_headers,
    content_length,
    engine_of,
    file_hash_algorithm,
    has_body,
    http_date,
    live_upload,
    media_type,
    parse_length,
)
from upslice.engine import Engine
from upslice.errors import (
    ChecksumMismatch,
    Forbidden,
    HashMismatch,
    InvalidInput,
    UnsupportedMediaType,
    UploadError,
    WrongChunk,
)
from upslice.hashing import Checksum
from upslice.record import Upload

# tus statuses where they differ from the engine's table.
TUS_STATUS: dict[type[UploadError], int] = {
    ChecksumMismatch: 460,  # "Checksum Mismatch" (checksum extension)
    HashMismatch: 460,  # the whole-file checksum from Upload-Metadata
    WrongChunk: 413,  # in an append: the body ran past Upload-Length
}


class PreconditionFailed(UploadError):
    code, status = "unsupported_version", 412


def tus_error(request: Request, exc: UploadError) -> Response:
    status = next((s for t, s in TUS_STATUS.items() if isinstance(exc, t)), exc.status)
    headers = {"Tus-Version": ",".join(SUPPORTED_VERSIONS)} if status == 412 else {}
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    return JSONResponse(exc.to_json(), status_code=status, headers=headers)


class TusRoute(APIRoute):
    """Translates engine errors into tus (or draft) responses; `Tus-Resumable` on every reply."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except UploadError as exc:
                draft = ietf.is_draft(request)
                response = ietf.error(request, exc) if draft else tus_error(request, exc)
                if location := exc.details.get("location"):
                    response.headers["Location"] = location
                response.headers.update(connection_headers(exc))
            response.headers["Tus-Resumable"] = TUS_VERSION
            return response

        return route


router = APIRouter(prefix="/files", tags=["tus"], route_class=TusRoute, include_in_schema=False)


def upload_url(request: Request, upload_id: str) -> str:
    return str(request.url_for("tus_upload", upload_id=upload_id))


def check_version(request: Request) -> None:
    version = request.headers.get("tus-resumable")
    if version is None:
        raise PreconditionFailed(
            f"the Tus-Resumable header is missing; send Tus-Resumable: {TUS_VERSION}",
            supported=list(SUPPORTED_VERSIONS),
        )
    if version not in SUPPORTED_VERSIONS:
        raise PreconditionFailed(
            f"Tus-Resumable {version!r} is not supported; use {TUS_VERSION}",
            supported=list(SUPPORTED_VERSIONS),
        )


def state_headers(request: Request, upload: Upload) -> dict[str, str]:
    """What HEAD reports about an upload (and PATCH/POST echo in part)."""
    headers = {"Upload-Offset": str(upload.offset), "Cache-Control": "no-store"}
    if upload.size is None:
        headers["Upload-Defer-Length"] = "1"
    else:
        headers["Upload-Length"] = str(upload.size)
    if raw := upload.extra.get("tus_metadata"):
        headers["Upload-Metadata"] = raw
    concat = upload.extra.get("concat")
    if concat == "partial":
        headers["Upload-Concat"] = "partial"
    elif concat == "final":
        urls = " ".join(upload_url(request, part) for part in upload.extra.get("parts", []))
        headers["Upload-Concat"] = f"final;{urls}"
        if not upload.done:  # still waiting for its partials: neither offset nor length yet
            del headers["Upload-Offset"]
            headers.pop("Upload-Defer-Length", None)
    headers.update(expiry_header(upload))
    return headers


def expiry_header(upload: Upload) -> dict[str, str]:
    if upload.done or upload.expires_at is None:
        return {}
    return {"Upload-Expires": http_date(upload.expires_at)}


def request_checksum(request: Request) -> Checksum | None:
    header = request.headers.get("upload-checksum")
    return None if header is None else Checksum.parse_upload_checksum(header)


# ---- OPTIONS -------------------------------------------------------------------------------


@router.options("/")
@router.options("/{upload_id}")
async def options(request: Request) -> Response:
    engine = engine_of(request)
    headers = capability_headers(engine)
    headers["Upload-Limit"] = ietf.limit_header(engine)
    headers.update(allow_header(request))
    return Response(status_code=204, headers=headers)


# ---- creation ------------------------------------------------------------------------------


@router.post("")
@router.post("/")
async def create(request: Request) -> Response:
    if ietf.is_draft(request):
        return await ietf.create(request, engine_of(request), upload_url)
    check_version(request)
    engine = engine_of(request)
    owner = await owner_of(request)
    metadata = Metadata.parse(request.headers.get("upload-metadata"))
    concat = Concat.parse(request.headers.get("upload-concat"))
    if concat is not None and not engine.data.can_concatenate:
        raise InvalidInput("this server cannot concatenate uploads (no concatenation extension)")
    if concat is not None and concat.kind == "final":
        return await create_final(request, engine, owner, metadata, concat)
    length_header = request.headers.get("upload-length")
    deferred = request.headers.get("upload-defer-length")
    if (length_header is None) == (deferred is None):
        raise InvalidInput("send exactly one of Upload-Length and Upload-Defer-Length")
    if deferred is not None and deferred != "1":
        raise InvalidInput("Upload-Defer-Length must be 1")
    size = None if length_header is None else parse_length(length_header, "Upload-Length")
    algorithm, digest = metadata.file_hash()
    checksum = request_checksum(request)
    body = has_body(request)
    if body and media_type(request) != PATCH_TYPE:
        raise UnsupportedMediaType(f"a creation body must be {PATCH_TYPE}", accepted=[PATCH_TYPE])
    extra: dict[str, Any] = {"tus_metadata": metadata.raw} if metadata.raw else {}
    if concat is not None:
        extra["concat"] = "partial"
    upload = await engine.new_upload(
        protocol="tus",
        owner=owner,
        file_name=metadata.text("filename"),
        file_type=metadata.file_type(),
        size=size,
        hash_algorithm=file_hash_algorithm(request, algorithm, digest),
        digest=digest,
        metadata=metadata.as_record(),
        extra=extra,
    )
    location = upload_url(request, upload.id)
    headers = {"Location": location}
    try:
        if body:
            upload = await append(request, engine, upload, 0, checksum)
            headers["Upload-Offset"] = str(upload.offset)
        elif size == 0:
            upload = await finish(engine, upload.id, owner)
        await joined(request, upload)
    except UploadError as exc:
        exc.details["location"] = location
        raise
    headers.update(expiry_header(upload))
    return Response(status_code=201, headers=headers)


async def create_final(
    request: Request, engine: Engine, owner: str | None, metadata: Metadata, concat: Concat
) -> Response:
    if request.headers.get("upload-length") is not None:
        raise InvalidInput("a final upload must not carry Upload-Length")
    if has_body(request):
        raise Forbidden("a final upload takes no body; its bytes come from the partial uploads")
    most = request.app.state.settings.max_concat_parts
    if len(concat.parts) > most:
        raise InvalidInput(
            f"Upload-Concat names {len(concat.parts)} partial uploads; at most {most} are accepted",
            maxParts=most,
        )
    for part_id in concat.parts:  # unfinished ones too: concatenation-unfinished
        part = await live_upload(request, part_id)
        if part.extra.get("concat") != "partial":
            raise InvalidInput(f"{part_id} is not a partial upload", uploadId=part_id)
    algorithm, digest = metadata.file_hash()
    extra: dict[str, Any] = {"concat": "final", "parts": list(concat.parts)}
    if metadata.raw:
        extra["tus_metadata"] = metadata.raw
    upload = await engine.create_final(
        list(concat.parts),
        owner=owner,
        keep_partials=keep_partials(request),
        file_name=metadata.text("filename"),
        file_type=metadata.file_type(),
        hash_algorithm=file_hash_algorithm(request, algorithm, digest),
        digest=digest,
        metadata=metadata.as_record(),
        extra=extra,
    )
    return Response(status_code=201, headers={"Location": upload_url(request, upload.id)})


def keep_partials(request: Request) -> bool:
    return bool(request.app.state.settings.tus_keep_partials)


async def joined(request: Request, upload: Upload) -> Upload:
    """A finished partial completes the finals that waited for it; a waiting final is joined
    if it can be (a crash between a partial's end and its join is recovered here)."""
    engine = engine_of(request)
    concat = upload.extra.get("concat")
    if concat == "partial" and upload.done:
        await engine.part_finished(upload, keep_partials(request))
    elif concat == "final" and not upload.done:  # 410 once a partial it needs is gone
        return await engine.join(upload.id, upload.owner, keep_partials(request))
    return upload


# ---- core: HEAD, PATCH; termination; download ----------------------------------------------


@router.head("/{upload_id}")
async def head(upload_id: str, request: Request) -> Response:
    if ietf.is_draft(request):
        return await ietf.head(request, engine_of(request), upload_id)
    check_version(request)
    upload = await joined(request, await live_upload(request, upload_id))
    return Response(status_code=200, headers=state_headers(request, upload))


@router.get("/{upload_id}", name="tus_upload")
async def download(upload_id: str, request: Request) -> Response:
    """The finished file (Range, ETag); the draft's GET offset retrieval while unfinished."""
    engine = engine_of(request)
    if ietf.is_draft(request):
        upload = await engine.get(upload_id, await owner_of(request))
        if not upload.done:
            return await ietf.head(request, engine, upload_id)
    await joined(request, await live_upload(request, upload_id))  # as HEAD: 410 if it never can
    upload = await engine.download(upload_id, await owner_of(request))
    return file_response(request, engine.data, upload)


@router.patch("/{upload_id}")
async def patch(upload_id: str, request: Request) -> Response:
    if ietf.is_draft(request):
        return await ietf.append(request, engine_of(request), upload_id)
    check_version(request)
    engine = engine_of(request)
    if media_type(request) != PATCH_TYPE:
        raise UnsupportedMediaType(f"PATCH bodies must be {PATCH_TYPE}", accepted=[PATCH_TYPE])
    offset_header = request.headers.get("upload-offset")
    if offset_header is None:
        raise InvalidInput("Upload-Offset is required")
    offset = parse_length(offset_header, "Upload-Offset")
    checksum = request_checksum(request)
    upload = await live_upload(request, upload_id)
    if upload.extra.get("concat") == "final":
        raise Forbidden("a final upload cannot be patched")
    if length_header := request.headers.get("upload-length"):
        size = parse_length(length_header, "Upload-Length")
        if upload.size is not None and upload.size != size:
            raise InvalidInput(f"the upload's length is {upload.size}, not {size}")
        if upload.size is None:
            owner = await owner_of(request)
            upload = await joined(request, await engine.declare_length(upload_id, size, owner))
    if upload.done and offset == upload.offset and not has_body(request):
        return Response(status_code=204, headers={"Upload-Offset": str(upload.offset)})
    upload = await joined(request, await append(request, engine, upload, offset, checksum))
    headers = {"Upload-Offset": str(upload.offset), **expiry_header(upload)}
    return Response(status_code=204, headers=headers)


async def append(
    request: Request, engine: Engine, upload: Upload, offset: int, checksum: Checksum | None
) -> Upload:
    """Append the request body; a whole-file checksum mismatch discards the upload."""
    owner = await owner_of(request)
    length = content_length(request)
    if upload.size is None and length is not None:
        if offset + length > engine.limits.max_file_size:
            raise InvalidInput("the body would pass the server's maximum upload size")
    body = TrackedBody(request)
    stream = body.stream()
    if checksum is None and announces_checksum(request):  # checksum-trailer
        stream = checked_by_trailer(request, stream)
    try:
        upload = await engine.append(
            upload.id, offset, stream, owner=owner, checksum=checksum, content_length=length
        )
    except HashMismatch:
        await engine.delete(upload.id, owner)
        raise
    body.raise_if_stalled()
    return upload


async def finish(engine: Engine, upload_id: str, owner: str | None) -> Upload:
    try:
        return await engine.complete(upload_id, owner)
    except HashMismatch:
        await engine.delete(upload_id, owner)
        raise


@router.delete("/{upload_id}")
async def terminate(upload_id: str, request: Request) -> Response:
    if ietf.is_draft(request):
        ietf.check_cancel(request)
    else:
        check_version(request)
    await engine_of(request).delete(upload_id, await owner_of(request))
    return Response(status_code=204)


@router.post("/{upload_id}")
async def method_override(upload_id: str, request: Request) -> Response:
    """`X-HTTP-Method-Override` for clients behind proxies that only pass GET and POST."""
    method = request.headers.get("x-http-method-override", "").strip().upper()
    handlers = {"PATCH": patch, "DELETE": terminate, "HEAD": head, "GET": download}
    if method not in handlers:
        return JSONResponse(
            {"error": {"code": "method_not_allowed", "message": "POST an upload via override"}},
            status_code=405,
            headers=allow_header(request),
        )
    request.scope["method"] = method
    return await handlers[method](upload_id, request)
