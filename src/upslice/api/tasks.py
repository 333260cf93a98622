"""The tasks API: create-or-resume, chunks in any order, completion, download, removal."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.responses import Response as StarletteResponse

from upslice.api.bodies import body_checksum, chunk_body, declared_length
from upslice.api.downloads import file_response
from upslice.api.identity import owner_of
from upslice.api.schemas import ErrorResponse, Task, TaskCreate, TaskList
from upslice.engine import Engine, TaskSpec
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
            "description": "`<md5|sha1|sha256> <base64 digest>` of the chunk",
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


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(engine_of)]


def present(request: Request, upload: Upload) -> Task:
    url = str(request.url_for("download_task_file", task_id=upload.id)) if upload.done else None
    return Task.of(upload, url)


@router.post("/task", response_model=Task, status_code=201, summary="Create or resume a task")
async def create_task(
    body: TaskCreate, request: Request, response: Response, engine: EngineDep, owner: Owner
) -> Task:
    """201 with a new task (already `done` and `instant` when the server holds the file);
    200 with the unfinished task of the same hash and size, to resume it."""
    spec = TaskSpec(
        hash=body.hash,
        file_name=body.file_name,
        file_type=body.file_type,
        file_size=body.file_size,
        hash_algorithm=body.hash_algorithm,
        chunk_size=body.chunk_size,
        metadata=body.metadata,
    )
    upload, created = await engine.create_task(spec, owner)
    response.status_code = 201 if created else 200
    return present(request, upload)


@router.get("/tasks", response_model=TaskList, summary="List your tasks, newest first")
async def list_tasks(
    request: Request,
    engine: EngineDep,
    owner: Owner,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TaskList:
    uploads = await engine.list_uploads(owner, limit=limit)
    return TaskList(tasks=[present(request, u) for u in uploads])


@router.get("/task/{task_id}", response_model=Task, summary="Task status")
async def get_task(task_id: TaskId, request: Request, engine: EngineDep, owner: Owner) -> Task:
    return present(request, await engine.get(task_id, owner))


@router.put(
    "/task/{task_id}/chunk/{index}",
    response_model=Task,
    summary="Upload one chunk",
    openapi_extra=CHUNK_BODY,
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


@router.post("/task/{task_id}/complete", response_model=Task, summary="Verify and finish")
async def complete_task(task_id: TaskId, request: Request, engine: EngineDep, owner: Owner) -> Task:
    """Idempotent. 409 lists missing chunks; 422 when the file's hash differs."""
    return present(request, await engine.complete(task_id, owner))


@router.delete("/task/{task_id}", status_code=204, summary="Abort or delete a task")
async def delete_task(task_id: TaskId, engine: EngineDep, owner: Owner) -> Response:
    await engine.delete(task_id, owner)
    return Response(status_code=204)


@router.api_route(
    "/task/{task_id}/file",
    methods=["GET", "HEAD"],
    name="download_task_file",
    summary="Download the finished file (Range supported)",
    response_class=StarletteResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, 206: {"description": "range"}},
)
async def download_file(
    task_id: TaskId, request: Request, engine: EngineDep, owner: Owner
) -> StarletteResponse:
    upload = await engine.download(task_id, owner)
    return file_response(request, engine.data, upload)
