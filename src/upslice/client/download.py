"""Resumable download of a finished task: `<file>.part` grows until it hashes right."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import httpx

from upslice.client.errors import Conflict, IntegrityError, TransportError, error_from
from upslice.client.hashing import BLOCK, Hasher, new_hasher
from upslice.client.meter import Meter, ProgressCallback
from upslice.client.retry import with_retries

if TYPE_CHECKING:
    from upslice.client.aio import AsyncClient

CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


def target_path(path: Path, file_name: str) -> Path:
    """`path` itself, or the task's own file name (stripped of directories) inside it."""
    if path.is_dir():
        return path / (Path(file_name.replace("\\", "/")).name or "download")
    return path


def _rehash(part: BinaryIO, algorithm: str) -> tuple[Hasher, int]:
    hasher = new_hasher(algorithm)
    part.seek(0)
    size = 0
    while block := part.read(BLOCK):
        hasher.update(block)
        size += len(block)
    return hasher, size


async def download(
    client: AsyncClient, task_id: str, path: Path, *, progress: ProgressCallback | None
) -> Path:
    task = await client.status(task_id)
    if not task.done or task.hash is None or task.file_size is None:
        raise Conflict(409, "not_complete", f"task {task_id} is not complete yet")
    target = target_path(path, task.file_name)
    part_path = target.with_name(target.name + ".part")
    etag = f'"{task.hash_algorithm}-{task.hash}"'
    size = task.file_size
    with open(part_path, "a+b") as part:
        hasher, offset = await asyncio.to_thread(_rehash, part, task.hash_algorithm)
        if offset > size:  # not ours, or from another version: start again
            part.truncate(0)
            hasher, offset = new_hasher(task.hash_algorithm), 0
        meter = Meter(target.name, size, progress)
        meter.start("downloading", offset)

        def restart() -> None:
            nonlocal hasher, offset
            part.truncate(0)
            part.seek(0)
            hasher, offset = new_hasher(task.hash_algorithm), 0
            meter.start("downloading", 0)

        async def attempt() -> None:
            nonlocal offset
            if offset >= size:
                return
            headers = {"Range": f"bytes={offset}-", "If-Range": etag} if offset else {}
            url = f"/api/task/{task_id}/file"
            try:
                async with client.http.stream("GET", url, headers=headers) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise error_from(response)
                    if response.headers.get("etag", etag) != etag:
                        raise IntegrityError(f"the server's ETag for {task_id} is not {etag}")
                    if response.status_code == 206:
                        match = CONTENT_RANGE.match(response.headers.get("content-range", ""))
                        if match is None or int(match[1]) != offset:
                            raise IntegrityError("the server sent a range we did not ask for")
                    elif offset:
                        restart()  # a full body: the range was ignored
                    async for block in response.aiter_bytes(BLOCK):
                        part.write(block)
                        hasher.update(block)
                        offset += len(block)
                        meter.add(len(block))
            except httpx.TransportError as exc:
                part.flush()
                raise TransportError(f"GET {url}: {type(exc).__name__}: {exc}") from exc
            finally:
                part.flush()
            if offset < size:
                raise TransportError(f"GET {url}: the body ended at {offset} of {size} bytes")

        await with_retries(f"download {task_id}", client.retry, attempt)
    if offset != size or hasher.hexdigest() != task.hash:
        part_path.unlink(missing_ok=True)
        raise IntegrityError(
            f"{target.name}: the downloaded bytes do not match the task's {task.hash_algorithm}"
        )
    part_path.replace(target)
    meter.finish()
    return target
