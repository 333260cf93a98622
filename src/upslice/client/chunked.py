"""Tasks-protocol upload: hash, create or resume, send the missing chunks N at a time.

This module holds the hash-first flow and what both flows share (sending chunks, repairing);
`overlapped` hashes beside the transfer instead."""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

from upslice.client.api import TasksApi
from upslice.client.errors import (
    Conflict,
    IntegrityError,
    ServerIntegrityError,
    UpsliceError,
)
from upslice.client.hashing import hash_source_async, upload_checksum
from upslice.client.meter import Meter, ProgressCallback
from upslice.client.models import Task
from upslice.client.proof import prove_if_worth_it
from upslice.client.retry import retryable, with_retries
from upslice.client.source import PathOrFile, Source
from upslice.client.workers import run_all

SLICE = 256 * 1024  # progress granularity inside one chunk body
REPAIR_ROUNDS = 3  # times completion may send chunks again (missing, or failing the hash)


class ChunkBusy(UpsliceError):
    """409 for a chunk the server has not got yet: an earlier, cut request may still hold it."""


def chunk_retryable(exc: BaseException) -> bool:
    if isinstance(exc, ChunkBusy):
        return True
    if isinstance(exc, ServerIntegrityError) and exc.code == "checksum_mismatch":
        return True  # damaged on the way: read it again and resend
    return retryable(exc)


def guess_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


async def upload(
    client: TasksApi,
    file: PathOrFile,
    *,
    concurrency: int,
    chunk_size: int | None,
    hash_algorithm: str,
    metadata: Mapping[str, Any] | None,
    progress: ProgressCallback | None,
    file_name: str | None,
    file_type: str | None,
    reuse: bool = True,
) -> Task:
    """The hash-first flow: hash the whole file, then create or resume its task (by hash),
    prove possession if the server may hold it, and send what is missing. Only this flow
    can make an upload instant before a byte is sent."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    with Source(file) as source:
        name = file_name or source.name
        meter = Meter(name, source.size, progress)
        meter.start("hashing")
        digest = await hash_source_async(source, hash_algorithm, lambda n: meter.add(n))
        task = await client.create_task(
            hash=digest,
            file_name=name,
            file_size=source.size,
            file_type=file_type or guess_type(name),
            hash_algorithm=hash_algorithm,
            chunk_size=chunk_size,
            metadata=metadata,
            reuse=reuse,
        )
        task = await prove_if_worth_it(client, task, source, meter)
        sender = ChunkSender(client, source, task, meter, concurrency)
        meter.start("uploading", task.uploaded_bytes if not task.done else source.size)
        todo: Iterable[int] = task.missing_chunks() if not task.done else ()
        task = await send_and_complete(client, sender, todo, lambda t: client.complete(t.id))
        meter.finish()
        return task


async def send_and_complete(
    client: TasksApi,
    sender: ChunkSender,
    todo: Iterable[int],
    finish: Callable[[Task], Awaitable[Task]],
) -> Task:
    """Send `todo`, then `finish` the task; resend what the server says is missing or
    damaged, up to REPAIR_ROUNDS times."""
    source, algorithm = sender.source, sender.task.hash_algorithm
    for _ in range(REPAIR_ROUNDS + 1):
        task = await sender.send_all(todo)
        if task.done:
            return task
        try:
            task = await finish(task)
            if task.done:
                return task
            todo = task.missing_chunks()
            if not todo:
                task = await client.complete(task.id)
                return task
        except Conflict as exc:  # chunks went missing (a server that lost them)
            todo = [int(i) for i in exc.details.get("missingChunks", ())]
            if exc.code != "missing_chunks" or not todo:
                raise
        except ServerIntegrityError as exc:  # some stored chunk differs from the file
            todo = [int(i) for i in exc.details.get("resendChunks", ())]
            if exc.code != "hash_mismatch" or not todo:
                raise
        finish = lambda t: client.complete(t.id)  # noqa: E731
        sender.meter.start("uploading", source.size - sum(_length(task, i) for i in todo))
    raise IntegrityError(f"{source.name}: the server could not verify the file's {algorithm}")


def _length(task: Task, index: int) -> int:
    start, end = task.chunk_range(index)
    return end - start


class ChunkSender:
    """Sends chunks of one task with a fixed number of workers, each retrying on its own."""

    def __init__(
        self,
        client: TasksApi,
        source: Source,
        task: Task,
        meter: Meter,
        concurrency: int,
        checksum: str = "crc32c",
    ) -> None:
        self.client = client
        self.source = source
        self.task = task
        self.meter = meter
        self.concurrency = concurrency
        self.checksum = checksum  # per chunk: crc32c costs no second MD5 pass over the file
        self.latest = task

    def finished(self, task: Task) -> None:
        """The server finished the task meanwhile (an instant upload took over): workers
        take no further chunk, and the ones under way end with the server's refusal."""
        self.latest = task

    async def send_all(self, indices: Iterable[int]) -> Task:
        """Send every chunk in `indices`; the newest task seen (done if the server finished)."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in indices:
            queue.put_nowait(index)
        workers = min(self.concurrency, queue.qsize())
        await run_all(self._worker(queue) for _ in range(workers))
        return self.latest

    async def _worker(self, queue: asyncio.Queue[int]) -> None:
        while not queue.empty() and not self.latest.done:
            index = queue.get_nowait()
            task = await self._send(index)
            if task is not None and (task.done or not self.latest.done):
                self.latest = task

    async def _send(self, index: int) -> Task | None:
        start, end = self.task.chunk_range(index)

        def read() -> tuple[bytes, str]:  # off the event loop: reading and MD5 both block
            data = self.source.read_exactly(start, end - start)
            return data, upload_checksum(data, self.checksum)

        async def attempt() -> Task | None:
            data, checksum = await asyncio.to_thread(read)
            return await self._put(index, data, checksum)

        return await with_retries(
            f"chunk {index}",
            self.client.retry,
            attempt,
            on_retry=self.meter.retry,
            should_retry=chunk_retryable,
        )

    async def _put(self, index: int, data: bytes, checksum: str) -> Task | None:
        sent = 0

        async def body() -> AsyncIterator[bytes]:
            nonlocal sent
            view = memoryview(data)
            for offset in range(0, len(data), SLICE):
                piece = bytes(view[offset : offset + SLICE])
                yield piece
                sent += len(piece)
                self.meter.add(len(piece))

        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(len(data)),
            "Upload-Checksum": checksum,
        }
        try:
            response = await self.client.send(
                "PUT", f"/api/task/{self.task.id}/chunk/{index}", content=body(), headers=headers
            )
        except ServerIntegrityError as exc:
            if exc.code == "hash_mismatch":  # the chunk counted; completion repairs the file
                return None
            self.meter.add(-sent)
            raise
        except Conflict as exc:
            self.meter.add(-sent)
            if exc.code != "conflict":
                raise
            current = await self.client.status(self.task.id)
            if current.done or index in current.received_chunks:
                self.meter.add(len(data), wire=False)
                return current  # a reply lost on the way, or another request delivered it
            raise ChunkBusy(str(exc)) from exc
        except UpsliceError:
            self.meter.add(-sent)
            raise
        return Task.from_json(response.json())
