"""`Client`: the `AsyncClient` driven from blocking code.

Nothing is implemented twice: each method runs the async one on a private event loop in a
background thread (an anyio blocking portal), so retries, parallel chunks and resumption
behave exactly as in `AsyncClient`. Progress callbacks therefore run on that thread.
Ctrl-C (KeyboardInterrupt) in the calling thread cancels the running call before it
propagates, so no request outlives it.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from upslice.client.aio import DEFAULT_SERVER, AsyncClient
from upslice.client.meter import ProgressCallback
from upslice.client.models import Task
from upslice.client.retry import RetryPolicy
from upslice.client.source import PathOrFile

T = TypeVar("T")


class Client:
    """Blocking twin of `AsyncClient`, with the same arguments and methods."""

    def __init__(
        self,
        server: str = DEFAULT_SERVER,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout = 60.0,
        retry: RetryPolicy | None = None,
        tus_state: str | Path | None = None,
        tus_path: str = "/files/",
    ) -> None:
        self._portal_cm: AbstractContextManager[BlockingPortal] = start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        self._closed = False

        async def make() -> AsyncClient:
            return AsyncClient(
                server,
                headers=headers,
                timeout=timeout,
                retry=retry,
                tus_state=tus_state,
                tus_path=tus_path,
            )

        self.aio = self._portal.call(make)

    def _run(self, call: Callable[[], Awaitable[T]]) -> T:
        async def run() -> T:
            return await call()

        future: Future[T] = self._portal.start_task_soon(run)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._portal.call(self.aio.aclose)
            self._portal_cm.__exit__(None, None, None)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def server(self) -> str:
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
    ) -> Task:
        """See `AsyncClient.upload`."""
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
            )
        )

    def download(
        self, task_id: str, path: str | Path, *, progress: ProgressCallback | None = None
    ) -> Path:
        """See `AsyncClient.download`."""
        return self._run(lambda: self.aio.download(task_id, path, progress=progress))

    def status(self, task_id: str) -> Task:
        return self._run(lambda: self.aio.status(task_id))

    def list(self, limit: int = 100) -> builtins.list[Task]:
        return self._run(lambda: self.aio.list(limit))

    def delete(self, task_id: str) -> None:
        self._run(lambda: self.aio.delete(task_id))

    def complete(self, task_id: str) -> Task:
        return self._run(lambda: self.aio.complete(task_id))

    def health(self) -> dict[str, Any]:
        return self._run(self.aio.health)
