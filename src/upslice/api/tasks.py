"""The tasks API: create-or-resume, chunks in any order, completion, download, removal."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.responses import Response as StarletteResponse

from upslice.api.bodies import body_checksum, chunk_body, declared_length
from upslice.api.downloads import file_response
from upslice.api.identity import owner_of
from upslice.api.links import OPERATIONS, task_response
from upslice.api.schemas import (
    ErrorResponse,
    HashDeclare,
    ProofCreate,
    Task,
    TaskCreate,
    TaskList,
)
from upslice.auth.signed import UrlSigner
from upslice.engine import Engine, TaskSpec
from upslice.errors import NotFound
from upslice.record import Upload

Owner = Annotated[str | None, Depends(owner_of)]
TaskId = Annotated[str, Path(description="the task id returned at creation")]

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "malformed field or header",
        404: "unknown task",
        410: "the task expired before it was finished",
        409: "wrong chunk index or size, or a conflicting state",
        413: "beyond the size limits",
        415: "unsupported Content-Type",
        422: "checksum or hash mismatch",
        507: "out of disk space",
        401: "no valid token (with --auth jwt), or a bad or expired signed download URL",
        502: "a blocking hook failed",
        503: "a blocking hook did not answer in time, or the token's keys cannot be fetched",
    }.items()
}
CHUNK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"chunk": {"type": "string", "format": "binary"}},
                    "required": ["chunk"],
                }
            },
        },
    },
    "parameters": [
        {
            "name": "Upload-Checksum",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "`<md5|sha1|sha256|crc32c|crc32> <base64 digest>` of the chunk; "
            "the CRCs are their 4 bytes big-endian. crc32c (Castagnoli, e.g. `google_crc32c`) "
            "costs the server nothing: it computes one of every chunk anyway; crc32 "
            "(`zlib.crc32`) costs it a fraction of an MD5",
        },
        {
            "name": "Content-MD5",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "base64 MD5 of the chunk",
        },
    ],
}

router = APIRouter(prefix="/api", tags=["tasks"], responses=ERRORS)
ALL_LINKS = tuple(OPERATIONS)


async def engine_of(request: Request) -> Engine:
    """A dependency; async, because FastAPI runs a plain `def` one on a thread, and under load
    that trip waited 20 ms for the GIL on every tasks-API request."""
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(engine_of)]


def present(request: Request, upload: Upload) -> Task:
    if not upload.done:
        return Task.of(upload, None)
    url = str(request.url_for("download_task_file", task_id=upload.id))
    signer: UrlSigner = request.app.state.signer
    return Task.of(upload, url, f"{url}?{signer.query(upload.id)}")


async def download_owner(request: Request) -> str | None:
    """A signed download URL stands for its upload's owner; otherwise the usual access."""
    params = request.query_params
    if "sig" not in params and "exp" not in params:
        return await owner_of(request)
    task_id = request.path_params["task_id"]
    signer: UrlSigner = request.app.state.signer
    signer.verify(task_id, params.get("exp"), params.get("sig"))
    engine = await engine_of(request)
    upload = await engine.meta.get(task_id)
    if upload is None:
        raise NotFound("no such upload (it may have expired)", uploadId=task_id)
    return upload.owner


@router.post(
    "/task",
    response_model=Task,
    status_code=201,
    summary="Create or resume a task",
    operation_id="createTask",
    responses={
        201: task_response("a new task", *ALL_LINKS),
        200: task_response("the unfinished task with this hash and size", *ALL_LINKS),
    },
)
async def create_task(
    body: TaskCreate, request: Request, response: Response, engine: EngineDep, owner: Owner
) -> Task:
    """201 with a new task (already `done` and `instant` when the caller already holds the
    file); 200 with the caller's unfinished task of the same hash and size, to resume it.
    An unfinished task carries a `challenge`: answer it at `POST /api/task/{id}/proof` to
    complete the task at once if the server holds the file for someone else. A create of
    the same file while another is under way (two tabs, a double click) waits for it and
    gets its task (409 `conflict` if that takes over 30 s).

    Without `hash`, the task is always new (201) with `hash: null, hashPending: true`: send
    chunks at once while hashing, then declare the hash with `PUT /api/task/{id}/hash`. The
    last chunk of such a task leaves it receiving until the hash is declared. Keep its id to
    resume it: without a hash there is nothing to find it by."""
    spec = TaskSpec(
        hash=body.hash,
        file_name=body.file_name,
        file_type=body.file_type,
        file_size=body.file_size,
        hash_algorithm=body.hash_algorithm,
        chunk_size=body.chunk_size,
        metadata=body.metadata,
        reuse=body.reuse,
    )
    upload, created = await engine.create_task(spec, owner)
    response.status_code = 201 if created else 200
    return present(request, upload)


@router.post(
    "/task/{task_id}/proof",
    response_model=Task,
    summary="Prove you hold the file",
    operation_id="proveTask",
)
async def prove_possession(
    task_id: TaskId, body: ProofCreate, request: Request, engine: EngineDep, owner: Owner
) -> Task:
    """`proof` = hex sha256 of the challenge's nonce bytes followed by the file's bytes in
    each of its ranges, in order. When the server holds a finished upload with this task's
    hash and size whose bytes give the same proof, the task is `done` and `instant` at once.
    Otherwise the task comes back unchanged: a wrong proof and a file the server does not hold
    look the same. Either way the challenge is used up and the answer carries a fresh one."""
    return present(request, await engine.prove_possession(task_id, owner, body.proof))


@router.put(
    "/task/{task_id}/hash",
    response_model=Task,
    summary="Declare the hash of a task created without one",
    operation_id="declareTaskHash",
    responses={200: task_response("the task with its hash", *ALL_LINKS)},
)
async def declare_hash(
    task_id: TaskId, body: HashDeclare, request: Request, engine: EngineDep, owner: Owner
) -> Task:
    """Declare the whole-file hash, at any time before completion. 200 with the task:

    - `done` and `instant` at once when you already hold a finished file with this hash and
      size: the bytes received so far are dropped and chunk requests still under way are
      refused (409), so stop sending;
    - `done` when every chunk is already in and the file matches (422 with `resendChunks`
      and state `failed` when it does not, as `complete` answers);
    - otherwise still receiving, with a fresh `challenge`: a file held by someone else makes
      the task instant only through `POST /api/task/{id}/proof`.

    Declaring the same hash again changes nothing (safe to retry: it finishes what the first
    declaration would have, if that is still due); another hash, or another `hashAlgorithm`
    than the task's, is 409."""
    upload = await engine.declare_hash(task_id, owner, body.hash, body.hash_algorithm)
    return present(request, upload)


@router.get(
    "/tasks",
    response_model=TaskList,
    summary="List the caller's tasks, newest first",
    operation_id="listTasks",
)
async def list_tasks(
    request: Request,
    engine: EngineDep,
    owner: Owner,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    partial: Annotated[
        bool,
        Query(description="include tus partial uploads (pieces of a parallel tus upload)"),
    ] = False,
) -> TaskList:
    """tus partial uploads are pieces of the final upload that joins them: listed only when
    asked for, so that one file shows as one task."""
    uploads = await listed_uploads(engine, owner, limit, partial=partial)
    return TaskList(tasks=[present(request, u) for u in uploads])


async def listed_uploads(
    engine: Engine, owner: str | None, limit: int, *, partial: bool
) -> list[Upload]:
    """Up to `limit` of the owner's uploads, newest first, paging past hidden partial ones."""
    found: list[Upload] = []
    before = None
    while len(found) < limit:
        page = await engine.list_uploads(owner, limit=limit, before=before)
        found += [u for u in page if partial or u.extra.get("concat") != "partial"]
        if len(page) < limit:
            break
        before = page[-1].created_at
    return found[:limit]


@router.get(
    "/task/{task_id}",
    response_model=Task,
    summary="Task status",
    operation_id="getTask",
    responses={200: task_response("the task", *ALL_LINKS)},
)
async def get_task(task_id: TaskId, request: Request, engine: EngineDep, owner: Owner) -> Task:
    return present(request, await engine.get(task_id, owner))


@router.put(
    "/task/{task_id}/chunk/{index}",
    response_model=Task,
    summary="Upload one chunk",
    openapi_extra=CHUNK_BODY,
    operation_id="putChunk",
    responses={200: task_response("the task with this chunk", *ALL_LINKS)},
)
async def put_chunk(
    task_id: TaskId,
    index: Annotated[int, Path(ge=0, description="0-based chunk index")],
    request: Request,
    engine: EngineDep,
    owner: Owner,
) -> Task:
    """The raw chunk as the body, or multipart/form-data with the bytes in field `chunk`.
    Every chunk but the last is exactly `chunkSize` bytes. The reply to the last missing
    chunk is already `done`."""
    upload = await engine.write_chunk(
        task_id,
        index,
        chunk_body(request),
        owner=owner,
        checksum=body_checksum(request),
        content_length=declared_length(request),
    )
    return present(request, upload)


@router.post(
    "/task/{task_id}/complete",
    response_model=Task,
    summary="Verify and finish",
    operation_id="completeTask",
    responses={200: task_response("the finished task", "DownloadFile", "DeleteTask")},
)
async def complete_task(task_id: TaskId, request: Request, engine: EngineDep, owner: Owner) -> Task:
    """Idempotent. 409 lists missing chunks (code `missing_chunks`), or says the hash of a
    task created without one is not declared yet (code `hash_missing`); 422 when the file's
    hash differs."""
    return present(request, await engine.complete(task_id, owner))


@router.delete(
    "/task/{task_id}",
    status_code=204,
    summary="Abort or delete a task",
    operation_id="deleteTask",
)
async def delete_task(task_id: TaskId, engine: EngineDep, owner: Owner) -> Response:
    await engine.delete(task_id, owner)
    return Response(status_code=204)


@router.head(  # its own operation: one id shared by GET and HEAD is a duplicate in OpenAPI
    "/task/{task_id}/file",
    name="head_task_file",
    operation_id="headTaskFile",
    summary="The finished file's length and type, without its bytes",
    response_class=StarletteResponse,
)
@router.get(
    "/task/{task_id}/file",
    name="download_task_file",
    operation_id="downloadTaskFile",
    summary="Download the finished file (Range supported)",
    response_class=StarletteResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, 206: {"description": "range"}},
)
async def download_file(
    task_id: TaskId,
    request: Request,
    engine: EngineDep,
    owner: Annotated[str | None, Depends(download_owner)],
    exp: Annotated[int | None, Query(description="signed URL: expiry, unix seconds")] = None,
    sig: Annotated[str | None, Query(description="signed URL: its signature")] = None,
) -> StarletteResponse:
    """With `Authorization` as every route, or as the task's `downloadUrl` (`exp` and `sig`),
    which needs no token until it expires."""
    upload = await engine.download(task_id, owner)
    return file_response(request, engine.data, upload)
