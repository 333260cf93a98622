"""Resumable download of a finished task: `<file>.part` grows until it hashes right.

The same loop also streams into any binary sink (stdout): it resumes with a Range request
after a cut, and checks the hash at the end.
"""

from __future__ import annotations

import asyncio
import errno
import re
from pathlib import Path
from typing import BinaryIO

import httpx

from upslice.client.api import TasksApi
from upslice.client.errors import Conflict, IntegrityError, TransportError, error_from
from upslice.client.hashing import BLOCK, Hasher, new_hasher
from upslice.client.meter import Meter, ProgressCallback
from upslice.client.models import Task
from upslice.client.retry import with_retries

CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


def target_path(path: Path, file_name: str, *, into_dir: bool = False) -> Path:
    """`path` itself, or the task's own file name (stripped of directories) inside it when
    `path` is a directory or `into_dir` says it is meant as one."""
    if into_dir or path.is_dir():
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


async def finished(client: TasksApi, task_id: str) -> Task:
    task = await client.status(task_id)
    if not task.done or task.file_size is None:
        raise Conflict(409, "not_complete", f"task {task_id} is not complete yet")
    return task


class Fetch:
    """Bytes of one task into `sink` from `offset` on, hashed as they come."""

    def __init__(
        self, client: TasksApi, task: Task, sink: BinaryIO, meter: Meter, *, rewindable: bool
    ) -> None:
        self.client, self.task, self.sink, self.meter = client, task, sink, meter
        self.rewindable = rewindable
        # an upload nobody asked to hash (hashAlgorithm none): the size is all there is to check
        self.algorithm = task.hash_algorithm if task.hash is not None else "md5"
        self.hasher = new_hasher(self.algorithm)
        self.offset = 0
        self.etag = f'"{task.hash_algorithm}-{task.hash}"' if task.hash else f'"{task.id}"'

    def restart(self) -> None:
        if not self.rewindable:
            raise IntegrityError("the server ignored a Range request; cannot resume a stream")
        self.sink.truncate(0)
        self.sink.seek(0)
        self.hasher, self.offset = new_hasher(self.algorithm), 0
        self.meter.start("downloading", 0)

    async def run(self) -> None:
        await with_retries(f"download {self.task.id}", self.client.retry, self.attempt)
        if self.offset != self.task.file_size or self.task.hash not in (
            None,
            self.hasher.hexdigest(),
        ):
            raise IntegrityError(
                f"{self.meter.name}: the downloaded bytes do not match the task's "
                f"{self.task.hash_algorithm}"
            )

    async def attempt(self) -> None:
        size = self.task.file_size or 0
        if self.offset >= size:
            return
        headers = {"Range": f"bytes={self.offset}-", "If-Range": self.etag} if self.offset else {}
        url = f"/api/task/{self.task.id}/file"
        try:
            async with self.client.http.stream("GET", url, headers=headers) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise error_from(response, self.client.server)
                if response.headers.get("etag", self.etag) != self.etag:
                    raise IntegrityError(f"the server's ETag for {self.task.id} is not {self.etag}")
                if response.status_code == 206:
                    match = CONTENT_RANGE.match(response.headers.get("content-range", ""))
                    if match is None or int(match[1]) != self.offset:
                        raise IntegrityError("the server sent a range we did not ask for")
                elif self.offset:
                    self.restart()  # a full body: the range was ignored
                async for block in response.aiter_bytes(BLOCK):
                    self.sink.write(block)
                    self.hasher.update(block)
                    self.offset += len(block)
                    self.meter.add(len(block))
        except httpx.TransportError as exc:
            raise TransportError(f"GET {url}: {type(exc).__name__}: {exc}") from exc
        finally:
            self.sink.flush()
        if self.offset < size:
            raise TransportError(f"GET {url}: the body ended at {self.offset} of {size} bytes")


async def download(
    client: TasksApi,
    task_id: str,
    path: Path,
    *,
    progress: ProgressCallback | None,
    into_dir: bool = False,
    overwrite: bool = True,
) -> Path:
    task = await finished(client, task_id)
    target = target_path(path, task.file_name, into_dir=into_dir)
    if not overwrite and target.exists():
        raise FileExistsError(errno.EEXIST, "exists; not overwritten", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    part_path = target.with_name(target.name + ".part")
    size = task.file_size or 0
    meter = Meter(target.name, size, progress)
    with open(part_path, "a+b") as part:
        fetch = Fetch(client, task, part, meter, rewindable=True)
        fetch.hasher, fetch.offset = await asyncio.to_thread(_rehash, part, fetch.algorithm)
        if fetch.offset > size:  # not ours, or from another version: start again
            fetch.restart()
        meter.start("downloading", fetch.offset)
        try:
            await fetch.run()
        except IntegrityError:
            part.close()
            part_path.unlink(missing_ok=True)
            raise
    part_path.replace(target)
    meter.finish()
    return target


async def stream(
    client: TasksApi, task_id: str, sink: BinaryIO, *, progress: ProgressCallback | None
) -> Task:
    """Write the file into `sink` (stdout, say); IntegrityError at the end if it was wrong."""
    task = await finished(client, task_id)
    meter = Meter(task.file_name, task.file_size or 0, progress)
    meter.start("downloading", 0)
    await Fetch(client, task, sink, meter, rewindable=False).run()
    meter.finish()
    return task
