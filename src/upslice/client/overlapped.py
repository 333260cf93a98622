"""Tasks-protocol upload that hashes beside the transfer instead of before it.

The task is created without its hash and chunks go out at once, while the file is read in
order and hashed on a worker thread (hashlib releases the GIL, so hashing and sending run side
by side). The hash is declared as soon as it is known: the server then completes the task once
every chunk is in, or makes it instant at once if you already hold the file (across owners,
once it accepts a proof of possession), and the chunks still queued are never sent. Chunks
carry CRC-32 checksums, so the file is MD5-hashed exactly once. A rerun finds its task again
through `UploadState`, since the server cannot find a task by a hash it was never told.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from upslice.client.api import TasksApi
from upslice.client.chunked import ChunkSender, guess_type, send_and_complete
from upslice.client.errors import NotFound
from upslice.client.hashing import hash_source_async, new_hasher
from upslice.client.meter import Meter, ProgressCallback
from upslice.client.models import Task
from upslice.client.proof import ALGORITHMS, proof_for
from upslice.client.source import PathOrFile, Source
from upslice.client.upload_state import UploadState, key_of


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
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    new_hasher(hash_algorithm)  # a wrong algorithm fails before anything is sent
    state = UploadState()
    with Source(file) as source:
        name = file_name or source.name
        meter = Meter(name, source.size, progress)
        key = key_of(client.server, source)
        task = await resumable(client, state, key, hash_algorithm, source.size)
        if task is not None and task.done and reuse and task.file_name == name:
            meter.finish()  # uploaded before, unchanged since: the same task again
            return task
        if task is None or task.done:
            task = await client.create_task(
                hash=None,
                file_name=name,
                file_size=source.size,
                file_type=file_type or guess_type(name),
                hash_algorithm=hash_algorithm,
                chunk_size=chunk_size,
                metadata=metadata,
            )
            if key is not None:
                state.put(key, {"taskId": task.id})
        sender = ChunkSender(client, source, task, meter, concurrency)
        meter.start("uploading", task.uploaded_bytes if not task.done else source.size)
        declarer = HashDeclarer(client, sender)
        declarer.start(task)
        try:
            todo = task.missing_chunks() if not task.done else []
            task = await send_and_complete(client, sender, todo, declarer.finish)
        finally:
            await declarer.cancel()
        meter.finish()
        return task


async def resumable(
    client: TasksApi, state: UploadState, key: str | None, algorithm: str, size: int
) -> Task | None:
    """The task an earlier run of this file created, if the server still has it."""
    entry = state.get(key) if key is not None else None
    if key is None or entry is None:
        return None
    try:
        task = await client.status(str(entry.get("taskId")))
    except NotFound:
        state.forget(key)
        return None
    expired = task.expires_at is not None and task.expires_at < datetime.now(UTC)
    if expired or task.hash_algorithm != algorithm or task.file_size != size:
        return None
    return task


class HashDeclarer:
    """Hashes the file beside the chunk workers and declares the hash when it is known."""

    def __init__(self, client: TasksApi, sender: ChunkSender) -> None:
        self.client = client
        self.sender = sender
        self.job: asyncio.Task[Task] | None = None

    def start(self, task: Task) -> None:
        if task.hash is None and not task.done:
            self.job = asyncio.create_task(self._run(task))

    async def _run(self, task: Task) -> Task:
        source = self.sender.source
        digest = await hash_source_async(source, task.hash_algorithm)
        declared = await self.client.declare_hash(task.id, digest, task.hash_algorithm)
        if not declared.done and self._worth_proving(declared):
            assert declared.challenge is not None
            proof = await asyncio.to_thread(proof_for, source, declared.challenge)
            declared = await self.client.prove(declared.id, proof)
        if declared.done:
            self.sender.finished(declared)  # instant: stop sending
        return declared

    def _worth_proving(self, task: Task) -> bool:
        """A proof reads 256 KiB: worth it while more than a chunk is left to send."""
        challenge = task.challenge
        left = self.sender.source.size - self.sender.meter.done
        return (
            challenge is not None and challenge.algorithm in ALGORITHMS and left > task.chunk_size
        )

    async def finish(self, task: Task) -> Task:
        """Once every chunk is sent: the answer to the declaration (complete when it matched),
        or a plain completion when the hash was declared by an earlier run."""
        if self.job is None:
            return await self.client.complete(task.id)
        job, self.job = self.job, None
        return await job

    async def cancel(self) -> None:
        if self.job is not None and not self.job.done():
            self.job.cancel()
            with contextlib.suppress(BaseException):
                await self.job
