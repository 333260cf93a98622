"""The flow.js family (resumable.js, flow.js, simple-uploader.js) at /flow/.

A thin translation onto the engine: `GET /flow/` is the libraries' `testChunks` request,
`POST /flow/` one chunk (multipart, or the raw chunk with `method: 'octet'`). There is no
finish call: the chunk that fills the last gap completes the upload, verified against the
identifier when that is the file's MD5 or SHA-256. Statuses follow what the libraries expect:
200 "present" / 204 "absent" to a test, 200 to a stored chunk; 404, 413, 415 stop them; other
4xx (a checksum mismatch: 422) are retried when the client allows retries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response

from upslice import ranges
from upslice.api.bodies import FORM_TYPE, RAW_TYPES, body_checksum, raw_body
from upslice.api.flow_params import FlowParams
from upslice.api.identity import owner_of
from upslice.api.multipart import MultipartReader
from upslice.engine import Engine
from upslice.errors import Conflict, InvalidInput, UnsupportedMediaType
from upslice.record import State, Upload

router = APIRouter(prefix="/flow", tags=["flow.js family"])
Owner = Annotated[str | None, Depends(owner_of)]
CREATE_WAIT = 30.0  # how long a chunk waits for another request creating the same record
POLL = 0.02


SETTLE_SECONDS = 10.0  # the longest a chunk reply waits for the last chunks in flight


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def check_chunk_size(engine: Engine, params: FlowParams) -> None:
    """The client picks its chunk size; the server only bounds it."""
    lower = max(engine.limits.min_chunk_size, engine.data.min_chunk_size)
    upper = max(lower, engine.limits.max_chunk_size)
    if not lower <= params.chunk_size <= upper:
        raise InvalidInput(
            f"chunkSize {params.chunk_size} is outside this server's {lower}..{upper} bytes",
            minChunkSize=lower,
            maxChunkSize=upper,
        )


async def held_copy(engine: Engine, params: FlowParams, owner: str | None) -> Upload | None:
    """A finished upload of the caller with the identifier's hash: an instant upload.

    Only the caller's own files: these libraries cannot answer a proof-of-possession
    challenge, so across owners the bytes are always sent."""
    content = params.file_hash
    if content is None:
        return None
    algorithm, digest = content
    return await engine.meta.find_by_content(
        algorithm, digest, params.total_size, [State.COMPLETE], owner=owner
    )


async def record_of(engine: Engine, params: FlowParams, owner: str | None) -> Upload | None:
    """The caller's record for this file; an unfinished one that expired counts as none."""
    upload = await engine.meta.get(params.upload_id(owner))
    if upload is not None and upload.owner != owner:  # a 128-bit collision: refuse, never mix
        raise Conflict("this identifier is taken; choose another one")
    if upload is not None and not upload.done and engine.expired(upload):
        return None
    return upload


async def find_or_create(engine: Engine, params: FlowParams, owner: str | None) -> Upload:
    """The record for this file, created by exactly one of the chunks arriving together
    (a lease in the MetaStore decides, so it holds across workers and nodes)."""
    upload_id = params.upload_id(owner)
    deadline = time.monotonic() + CREATE_WAIT
    while (upload := await record_of(engine, params, owner)) is None:
        async with engine.leases.holding(f"flow:{upload_id}") as held:
            if held is not None:
                return await record_of(engine, params, owner) or await create(engine, params, owner)
        if time.monotonic() > deadline:
            raise Conflict("another request is creating this upload; try again")
        await asyncio.sleep(POLL)  # polling the lease: its holder may be on another node
    return upload


async def create(engine: Engine, params: FlowParams, owner: str | None) -> Upload:
    """A new record under the file's id; one that expired there first makes room (the id is
    fixed by the identifier, so it cannot wait for the sweeper)."""
    stale = await engine.meta.get(params.upload_id(owner))
    if stale is not None:
        await engine.remove(stale)
    algorithm, digest = params.file_hash or ("md5", None)
    return await engine.new_upload(
        protocol="flow",
        owner=owner,
        file_name=params.filename,
        file_type=params.file_type,
        size=params.total_size,
        hash_algorithm=algorithm,
        digest=digest,
        chunk_size=params.chunk_size,
        metadata=params.metadata(),
        upload_id=params.upload_id(owner),
    )


def uploaded_chunks(upload: Upload, params: FlowParams) -> list[int]:
    """Chunk numbers (1-based, as the client cuts the file) whose bytes are all stored."""
    if upload.done:
        return list(range(1, params.total_chunks + 1))
    received = ranges.merge((s.start, s.end) for s in upload.segments)
    found = []
    for number in range(1, params.total_chunks + 1):
        start, end = params.bounds(number)
        if any(a <= start and end <= b for a, b in received):
            found.append(number)
    return found


def reply(request: Request, upload: Upload, params: FlowParams) -> dict[str, Any]:
    """What a test or chunk answers: simple-uploader's `checkChunkUploadedByResponse` reads
    `uploaded` (and `skipUpload`), everyone else just the status."""
    body: dict[str, Any] = {
        "id": upload.id,
        "done": upload.done,
        "skipUpload": upload.done,
        "uploaded": uploaded_chunks(upload, params),
    }
    if upload.done:
        body["hash"] = upload.hash
        body["hashAlgorithm"] = upload.hash_algorithm
        body["fileUrl"] = str(request.url_for("download_task_file", task_id=upload.id))
    return body


@router.get("", include_in_schema=False)
@router.get("/", summary="testChunks: is this chunk already here?")
async def test_chunk(request: Request, owner: Owner) -> Response:
    """200 with `{uploaded, skipUpload, ...}` when the chunk (or the whole file, for an
    identifier that is the hash of a file the caller holds) is stored; 204 when it must be sent."""
    engine = engine_of(request)
    params = FlowParams.parse(request.query_params)
    check_chunk_size(engine, params)
    upload = await held_copy(engine, params, owner) or await record_of(engine, params, owner)
    if upload is None:
        return Response(status_code=204)
    body = reply(request, upload, params)
    if params.chunk_number not in body["uploaded"]:
        return Response(status_code=204)
    return JSONResponse(body)


@router.post("", include_in_schema=False)
@router.post("/", summary="Upload one chunk (multipart field `file`, or raw with ?params)")
async def post_chunk(request: Request, owner: Owner) -> JSONResponse:
    """200 with `{id, done, uploaded, ...}`; the chunk that fills the last gap completes the
    upload (and the reply says `done`)."""
    engine = engine_of(request)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fields = dict(request.query_params)
    if media_type == FORM_TYPE:
        reader = MultipartReader(request)
        parts = reader.parts()
        async for part in parts:
            if part.filename is None and part.name != "file":
                fields[part.name] = await part.text()
                continue
            upload = await receive(request, engine, owner, fields, part.stream())
            async for _ in parts:  # drain what follows the chunk (nothing, normally)
                pass
            return JSONResponse(reply(request, upload, FlowParams.parse(fields)))
        raise InvalidInput("the multipart body has no file part (field `file`)")
    if media_type in RAW_TYPES:
        upload = await receive(request, engine, owner, fields, raw_body(request))
        return JSONResponse(reply(request, upload, FlowParams.parse(fields)))
    raise UnsupportedMediaType(
        f"unsupported Content-Type {media_type!r}", accepted=[FORM_TYPE, RAW_TYPES[1]]
    )


async def receive(
    request: Request,
    engine: Engine,
    owner: str | None,
    fields: dict[str, str],
    body: AsyncIterator[bytes],
) -> Upload:
    params = FlowParams.parse(fields)
    check_chunk_size(engine, params)
    checksum = params.checksum() or body_checksum(request)
    held = await held_copy(engine, params, owner)
    if held is not None:
        return held  # the caller has this file already: nothing to store
    upload = await find_or_create(engine, params, owner)
    if upload.done or upload.state is State.VERIFYING:
        return upload if upload.done else await engine.complete(upload.id, owner)
    upload = await engine.write_range(
        upload.id, params.start, params.length, body, owner=owner, checksum=checksum
    )
    return upload if upload.done else await finished_by_others(engine, upload, owner)


async def finished_by_others(engine: Engine, upload: Upload, owner: str | None) -> Upload:
    """The record once the chunks other requests are writing right now have landed, when
    those are all that is missing.

    The flow.js family sends chunks in parallel and takes the reply that *arrives* last as the
    file's answer (`fileSuccess`), but replies may arrive in another order than their chunks
    landed: without this wait, that answer could say `done: false` for a finished file.
    """
    deadline = time.monotonic() + SETTLE_SECONDS
    while not upload.done and not upload.hash_pending and upload.size is not None:
        missing = ranges.gaps(((s.start, s.end) for s in upload.segments), upload.size)
        writing = {
            int(lease.name.rsplit(":", 1)[1])
            for lease in await engine.meta.live_leases(f"chunk:{upload.id}:")
        }
        if any(start not in writing for start, _ in missing) or time.monotonic() > deadline:
            return upload  # bytes nobody is sending yet: the client still has work to do
        await asyncio.sleep(POLL)  # polling: the writers may be on other workers
        upload = await engine.get(upload.id, owner)
    return upload
