"""`AsyncClient`: the tasks API over httpx; every other client is built on this one."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from upslice.client.errors import TransportError, error_from
from upslice.client.meter import ProgressCallback
from upslice.client.models import Task
from upslice.client.retry import RetryPolicy, with_retries
from upslice.client.source import PathOrFile

DEFAULT_SERVER = "http://127.0.0.1:38080"


class AsyncClient:
    """An upslice server at `server`.

    `headers` go with every request (an Authorization header, say); `timeout` is httpx's (a
    number or an `httpx.Timeout`); `retry` says how often and how patiently retryable failures
    (no reply, 5xx, 423, 429) are tried again; `transport` replaces httpx's network layer;
    `tus_state` is the file that remembers tus upload URLs between runs, `tus_path` where the
    tus endpoint lives on the server.
    """

    def __init__(
        self,
        server: str = DEFAULT_SERVER,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        tus_state: str | Path | None = None,
        tus_path: str = "/files/",
    ) -> None:
        self.server = server.rstrip("/")
        self.tus_path = tus_path
        self.retry = retry or RetryPolicy()
        self.tus_state = Path(tus_state) if tus_state is not None else None
        self.http = httpx.AsyncClient(
            base_url=self.server,
            headers=dict(headers or {}),
            timeout=timeout,
            transport=transport,
            follow_redirects=True,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    # ---- plumbing ------------------------------------------------------------------------

    async def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request; no reply becomes TransportError, an error status a ServerError."""
        try:
            response = await self.http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise TransportError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise error_from(response)
        return response

    async def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """`send` with retries: only for requests that are safe to repeat."""
        return await with_retries(
            f"{method} {url}", self.retry, lambda: self.send(method, url, **kwargs)
        )

    # ---- the tasks API -------------------------------------------------------------------

    async def create_task(
        self,
        *,
        hash: str,
        file_name: str,
        file_size: int,
        file_type: str = "application/octet-stream",
        hash_algorithm: str = "md5",
        chunk_size: int | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Task:
        """Create a task, or get back the unfinished one with this hash and size."""
        body: dict[str, Any] = {
            "hash": hash,
            "fileName": file_name,
            "fileType": file_type,
            "fileSize": file_size,
            "hashAlgorithm": hash_algorithm,
            "metadata": dict(metadata or {}),
        }
        if chunk_size is not None:
            body["chunkSize"] = chunk_size
        return Task.from_json((await self.call("POST", "/api/task", json=body)).json())

    async def status(self, task_id: str) -> Task:
        return Task.from_json((await self.call("GET", f"/api/task/{task_id}")).json())

    async def list(self, limit: int = 100) -> builtins.list[Task]:
        """Your tasks, newest first."""
        response = await self.call("GET", "/api/tasks", params={"limit": limit})
        return [Task.from_json(t) for t in response.json()["tasks"]]

    async def delete(self, task_id: str) -> None:
        await self.call("DELETE", f"/api/task/{task_id}")

    async def complete(self, task_id: str) -> Task:
        """Ask the server to verify and finish (idempotent)."""
        return Task.from_json((await self.call("POST", f"/api/task/{task_id}/complete")).json())

    async def health(self) -> dict[str, Any]:
        data: dict[str, Any] = (await self.call("GET", "/health")).json()
        return data

    # ---- whole files ---------------------------------------------------------------------

    async def upload(
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
        """Upload a path or a seekable binary file and return the finished task.

        Hashes the file, creates or resumes its task, sends only the chunks the server lacks,
        `concurrency` at a time, retrying failed ones, and returns once the server has verified
        the whole file. `progress` is called on the event loop with `Progress` events.
        `protocol="tus"` uses the tus 1.0 endpoint at `<server>/files/` instead.
        """
        from upslice.client import chunked, tus

        uploaders = {"tasks": chunked.upload, "tus": tus.upload}
        if protocol not in uploaders:
            raise ValueError(f"protocol must be 'tasks' or 'tus', not {protocol!r}")
        return await uploaders[protocol](
            self,
            file,
            concurrency=concurrency,
            chunk_size=chunk_size,
            hash_algorithm=hash_algorithm,
            metadata=metadata,
            progress=progress,
            file_name=file_name,
            file_type=file_type,
        )

    async def download(
        self, task_id: str, path: str | Path, *, progress: ProgressCallback | None = None
    ) -> Path:
        """Fetch a finished file to `path` (a directory: under its own name), resuming a
        `.part` file left by an earlier attempt and verifying the task's hash before the
        file takes its final name. Returns the final path."""
        from upslice.client import download

        return await download.download(self, task_id, Path(path), progress=progress)
