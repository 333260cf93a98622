"""Plain form uploads: `POST /api/upload` with multipart/form-data, one or more files.

What `<form enctype="multipart/form-data">`, Dropzone and `@uppy/xhr-upload` send. Each file
part is streamed into its own record (length unknown until its boundary, as a tus upload with
a deferred length), hashed, and completed; text fields sent before a file become its metadata.
The request is all or nothing: over the size cap, malformed, or cut short, every record it
created is removed again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse

from upslice.api import mediatype
from upslice.api.bodies import FORM_TYPE
from upslice.api.identity import owner_of
from upslice.api.multipart import MultipartReader, Part
from upslice.api.schemas import MAX_METADATA_BYTES
from upslice.engine import Engine
from upslice.errors import ClientGone, InvalidInput, TooLarge, UnsupportedMediaType
from upslice.record import Upload

router = APIRouter(prefix="/api", tags=["form uploads"])
Owner = Annotated[str | None, Depends(owner_of)]


class Budget:
    """The bytes a request may still send; TooLarge (413) once they run out."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.used = 0

    def spend(self, amount: int) -> None:
        self.used += amount
        self.check(self.used)

    def check(self, total: int) -> None:
        if total > self.cap:
            raise TooLarge(
                f"the form upload exceeds the server's limit of {self.cap} bytes",
                formMaxSize=self.cap,
            )

    async def counted(self, source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for piece in source:
            self.spend(len(piece))
            yield piece


def describe(request: Request, upload: Upload, field: str) -> dict[str, Any]:
    return {
        "id": upload.id,
        "field": field,
        "fileName": upload.file_name,
        "fileType": upload.file_type,
        "size": upload.size,
        "hash": upload.hash,
        "hashAlgorithm": upload.hash_algorithm,
        "url": str(request.url_for("download_task_file", task_id=upload.id)),
    }


@router.post(
    "/upload",
    status_code=201,
    summary="Upload whole files as multipart/form-data",
    operation_id="formUpload",
)
async def form_upload(request: Request, owner: Owner) -> JSONResponse:
    """201 with `{files: [{id, field, fileName, fileType, size, hash, hashAlgorithm, url}]}`,
    one entry per file part, each a complete upload (and `url` beside `files` when there is
    one file, as `@uppy/xhr-upload` expects). 413 beyond `--form-max-size` (files and
    fields together), 400 for a malformed body; either way nothing of the request is kept."""
    engine: Engine = request.app.state.engine
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise UnsupportedMediaType(f"send {FORM_TYPE}, not {media_type!r}", accepted=[FORM_TYPE])
    budget = Budget(request.app.state.settings.form_max_size)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        budget.check(int(declared))  # refused before a byte is read
    reader = MultipartReader(request)
    created: list[Upload] = []
    files: list[dict[str, Any]] = []
    fields: dict[str, str] = {}
    try:
        async for part in reader.parts():
            if part.filename is None:
                fields[part.name] = await part.text()
                budget.spend(len(fields[part.name]))
            elif part.filename:  # an empty file input sends a part with filename=""
                upload = await receive_file(engine, owner, part, fields, budget, created)
                files.append(describe(request, upload, part.name))
        if not files:
            raise InvalidInput("the form has no file part (a part with a filename)")
    except BaseException:
        await asyncio.shield(forget(engine, created))
        raise
    body: dict[str, Any] = {"files": files}
    if len(files) == 1:
        body["url"] = files[0]["url"]  # what @uppy/xhr-upload reads as the file's uploadURL
    return JSONResponse(body, status_code=201)


async def receive_file(
    engine: Engine,
    owner: str | None,
    part: Part,
    fields: dict[str, str],
    budget: Budget,
    created: list[Upload],
) -> Upload:
    filename = part.filename or part.name
    metadata = {"field": part.name, **fields}
    if len(json.dumps(metadata)) > MAX_METADATA_BYTES:
        raise InvalidInput(f"form fields must stay under {MAX_METADATA_BYTES} bytes as JSON")
    declared = part.content_type.split(";")[0].strip()
    upload = await engine.new_upload(
        protocol="form",
        owner=owner,
        file_name=filename,
        file_type=declared if mediatype.is_valid(declared) else mediatype.guess(filename),
        size=None,
        metadata=metadata,
    )
    created.append(upload)
    upload = await engine.append(upload.id, 0, budget.counted(part.stream()), owner=owner)
    if not part.ended:
        raise ClientGone("the connection closed before the file's part ended")
    return await engine.declare_length(upload.id, upload.offset, owner)


async def forget(engine: Engine, created: list[Upload]) -> None:
    for upload in created:
        current = await engine.meta.get(upload.id)
        if current is not None:
            await engine.remove(current)
