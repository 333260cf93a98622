"""`Client`: the `AsyncClient` driven from blocking code.

Nothing is implemented twice: each method runs the async one on a private event loop in a
background daemon thread, so retries, parallel chunks and resumption behave exactly as in
`AsyncClient`. Progress callbacks therefore run on that thread. The thread is a daemon and a
finalizer closes it, so a client that is never closed never keeps the interpreter alive.
Ctrl-C (KeyboardInterrupt) in the calling thread cancels the running call before it
propagates, so no request outlives it.
"""

from __future__ import annotations

import asyncio
import builtins
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import httpx

from upslice.client.aio import DEFAULT_SERVER, AsyncClient
from upslice.client.api import checked_server
from upslice.client.meter import ProgressCallback
from upslice.client.models import Task
from upslice.client.retry import RetryPolicy
from upslice.client.source import PathOrFile

T = TypeVar("T")


class LoopThread:
    """An event loop running forever in a daemon thread, for blocking callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="upslice-client", daemon=True
        )
        self.thread.start()

    def submit(self, work: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(work, self.loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self.thread:
            self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


def _shut(runner: LoopThread, aio: AsyncClient) -> None:
    """Close the pool and stop the loop; a finalizer, so it must never raise."""
    if threading.current_thread() is runner.thread:  # collected on the loop: cannot wait
        runner.loop.create_task(aio.aclose())
        return
    try:
        if runner.thread.is_alive():
            runner.submit(asyncio.wait_for(aio.aclose(), 5))
    except Exception:
        pass
    runner.stop()


class Client:
    """Blocking twin of `AsyncClient`, with the same arguments and methods.

    Use it as a context manager or call `close()`; a client that is neither is closed when
    it is garbage-collected or the interpreter exits, and never keeps the interpreter alive.
    """

    def __init__(
        self,
        server: str = DEFAULT_SERVER,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout = 60.0,
        retry: RetryPolicy | None = None,
        tus_state: str | Path | None = None,
        tus_path: str = "/files/",
        token: str | None = None,
    ) -> None:
        checked_server(server)  # a wrong URL fails here, before any thread starts
        self._runner = LoopThread()

        async def make() -> AsyncClient:
            return AsyncClient(
                server,
                headers=headers,
                timeout=timeout,
                retry=retry,
                tus_state=tus_state,
                tus_path=tus_path,
                token=token,
            )

        self.aio = self._runner.submit(make())
        self._finalizer = weakref.finalize(self, _shut, self._runner, self.aio)

    def _run(self, call: Callable[[], Awaitable[T]]) -> T:
        if not self._finalizer.alive:
            raise RuntimeError("this Client is closed")

        async def run() -> T:
            return await call()

        return self._runner.submit(run())

    def close(self) -> None:
        """Close the connection pool and stop the background loop (idempotent)."""
        self._finalizer()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def server(self) -> str:
        """The server's base URL, without a trailing slash."""
        return self.aio.server

    def upload(
        self,
        file: PathOrFile,
        *,
        concurrency: int = 4,
        chunk_size: int | None = None,
        hash_algorithm: str = "md5",
        metadata: Mapping[str, Any] | None = None,
        progress: ProgressCallback | None = None,
        protocol: str = "tasks",
        file_name: str | None = None,
        file_type: str | None = None,
        reuse: bool = True,
        hash_first: bool = False,
    ) -> Task:
        """Upload a path or a seekable binary file and return the finished task.

        Sends chunks at once while the file is hashed beside them (`hash_first=True`: hash
        the whole file first, which lets the server answer with an instant upload before a
        byte is sent), resumes an interrupted upload of the same file, sends only the chunks
        the server lacks, `concurrency` at a time, retrying failed ones, and returns once the
        server has verified the whole file (see `AsyncClient.upload`). A file you already
        uploaded under this name comes back as the same task (`reuse=False`: a new task
        sharing its bytes). `progress` is called with `Progress` events, on the client's
        background thread. `protocol="tus"` uses the tus 1.0 endpoint at `<server>/files/`
        instead. Raises `IntegrityError` if the file changed while it was read, `ServerError`
        for a refusal, `TransportError` when the server cannot be reached.
        """
        return self._run(
            lambda: self.aio.upload(
                file,
                concurrency=concurrency,
                chunk_size=chunk_size,
                hash_algorithm=hash_algorithm,
                metadata=metadata,
                progress=progress,
                protocol=protocol,
                file_name=file_name,
                file_type=file_type,
                reuse=reuse,
                hash_first=hash_first,
            )
        )

    def download(
        self,
        task_id: str,
        path: str | Path,
        *,
        progress: ProgressCallback | None = None,
        overwrite: bool = True,
    ) -> Path:
        """Fetch a finished file to `path` and return the final path.

        `path` may be a directory (the file keeps its own name there). The bytes grow in
        `<name>.part`, which a later call resumes, and take the final name only once they
        match the task's hash (`IntegrityError` otherwise). `NotFound` for an unknown id,
        `Conflict` for a task that is not complete yet; with `overwrite=False`,
        FileExistsError for an existing file.
        """
        return self._run(
            lambda: self.aio.download(task_id, path, progress=progress, overwrite=overwrite)
        )

    def stream(
        self, task_id: str, sink: BinaryIO, *, progress: ProgressCallback | None = None
    ) -> Task:
        """Write a finished file into a binary stream (`sys.stdout.buffer`, say), verified
        against the task's hash at the end (`IntegrityError`)."""
        return self._run(lambda: self.aio.stream(task_id, sink, progress=progress))

    def status(self, task_id: str) -> Task:
        """The task `task_id` as the server holds it now; `NotFound` if it is not yours."""
        return self._run(lambda: self.aio.status(task_id))

    def list(self, limit: int = 100) -> builtins.list[Task]:
        """Your tasks, newest first, at most `limit` (1 to 1000)."""
        return self._run(lambda: self.aio.list(limit))

    def delete(self, task_id: str) -> None:
        """Abort an unfinished task or delete a finished one with its file."""
        self._run(lambda: self.aio.delete(task_id))

    def complete(self, task_id: str) -> Task:
        """Ask the server to verify and finish a task whose chunks are all in (idempotent);
        `Conflict` lists missing chunks, `ServerIntegrityError` a hash mismatch."""
        return self._run(lambda: self.aio.complete(task_id))

    def prove(self, task_id: str, proof: str) -> Task:
        """Answer the task's possession challenge; `done` if the server holds the file."""
        return self._run(lambda: self.aio.prove(task_id, proof))

    def health(self) -> dict[str, Any]:
        """The server's /health document (status, counters)."""
        return self._run(self.aio.health)
