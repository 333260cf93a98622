"""`TasksApi`: the server's tasks API over httpx, one method per request.

The upload and download strategies (chunked, tus, download) work on this, and `AsyncClient`
adds them on top; so the strategies never import the client that uses them.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import httpx

from upslice.client.errors import (
    InvalidServerURL,
    NotUpsliceServer,
    ServerError,
    TransportError,
    error_from,
)
from upslice.client.models import Task
from upslice.client.retry import RetryPolicy, retryable, with_retries

DEFAULT_SERVER = "http://127.0.0.1:38080"


def checked_server(server: str) -> str:
    """`server` without its trailing slash; InvalidServerURL at once if it cannot work."""
    try:
        url = httpx.URL(server)
    except httpx.InvalidURL as exc:
        raise InvalidServerURL(f"{server!r} is not a URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidServerURL(
            f"{server!r} is not an http(s) URL; did you mean http://{server.split('://')[-1]}?"
        )
    return server.rstrip("/")


def first_contact(policy: RetryPolicy) -> RetryPolicy:
    """Before the server ever answered, a refused connection or an unknown host is most
    likely a wrong URL: a few quick attempts, not a long patient wait."""
    return RetryPolicy(
        attempts=min(policy.attempts, 3), base=min(policy.base, 0.2), cap=min(policy.cap, 1.0)
    )


class TasksApi:
    """An upslice server at `server`.

    `headers` go with every request (an Authorization header, say); `timeout` is httpx's (a
    number or an `httpx.Timeout`); `retry` says how often and how patiently retryable failures
    (no reply, 5xx, 423, 429) are tried again (until the server first answers, only a few
    quick attempts: a wrong URL fails fast); `token` is sent as `Authorization: Bearer`;
    `transport` replaces httpx's network layer;
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
        token: str | None = None,
    ) -> None:
        self.server = checked_server(server)
        self.reached = False  # has the server answered anything yet?
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.tus_path = tus_path
        self.retry = retry or RetryPolicy()
        self.tus_state = Path(tus_state) if tus_state is not None else None
        self.http = httpx.AsyncClient(
            base_url=self.server,
            headers=headers,
            timeout=timeout,
            transport=transport,
            follow_redirects=True,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (the context manager does this for you)."""
        await self.http.aclose()

    # ---- plumbing ------------------------------------------------------------------------

    async def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request; no reply becomes TransportError, an error status a ServerError."""
        try:
            response = await self.http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise TransportError(
                f"{method} {self.server}{url}: {type(exc).__name__}: {exc}"
            ) from exc
        self.reached = True
        if response.status_code >= 400:
            raise error_from(response, self.server)
        return response

    async def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """`send` with retries: only for requests that are safe to repeat."""

        def once() -> Any:
            return self.send(method, url, **kwargs)

        what = f"{method} {self.server}{url}"
        if not self.reached:
            try:
                return await with_retries(
                    what, first_contact(self.retry), once, should_retry=_no_reply
                )
            except ServerError as exc:  # it answered: now be as patient as the policy says
                if not retryable(exc):
                    raise
        return await with_retries(what, self.retry, once)

    async def json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """`call`, and the reply's JSON object; anything else means this is not upslice."""
        response = await self.call(method, url, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise NotUpsliceServer(
                f"not an upslice server at {self.server}: {method} {url} answered "
                f"{response.status_code} ({kind}), not a JSON object"
            )
        return body

    # ---- the tasks API -------------------------------------------------------------------

    async def create_task(
        self,
        *,
        hash: str | None,
        file_name: str,
        file_size: int,
        file_type: str = "application/octet-stream",
        hash_algorithm: str = "md5",
        chunk_size: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        reuse: bool = False,
    ) -> Task:
        """Create a task, or get back the unfinished one with this hash and size; with
        `reuse`, also your finished one of this hash, size and name (no new copy). With
        `hash=None` the task is always new and takes chunks at once: declare its hash later
        with `declare_hash`."""
        body: dict[str, Any] = {
            "fileName": file_name,
            "fileType": file_type,
            "fileSize": file_size,
            "hashAlgorithm": hash_algorithm,
            "metadata": dict(metadata or {}),
        }
        if hash is not None:
            body["hash"] = hash
        if chunk_size is not None:
            body["chunkSize"] = chunk_size
        if reuse:
            body["reuse"] = True
        return self._task(await self.json("POST", "/api/task", json=body))

    def _task(self, body: dict[str, Any]) -> Task:
        try:
            return Task.from_json(body)
        except (KeyError, TypeError, ValueError):
            raise NotUpsliceServer(
                f"not an upslice server at {self.server}: the reply is not a task"
            ) from None

    async def status(self, task_id: str) -> Task:
        """The task `task_id` as the server holds it now (NotFound if it is not yours)."""
        return self._task(await self.json("GET", f"/api/task/{task_id}"))

    async def list(self, limit: int = 100) -> builtins.list[Task]:
        """Your tasks, newest first (tus partial uploads, the pieces of a parallel tus
        upload, are left out: their final upload is the file)."""
        body = await self.json("GET", "/api/tasks", params={"limit": limit})
        if not isinstance(body.get("tasks"), builtins.list):
            raise NotUpsliceServer(f"not an upslice server at {self.server}: no task list")
        return [self._task(t) for t in body["tasks"]]

    async def delete(self, task_id: str) -> None:
        """Abort an unfinished task or delete a finished one with its file."""
        await self.call("DELETE", f"/api/task/{task_id}")

    async def complete(self, task_id: str) -> Task:
        """Ask the server to verify and finish (idempotent)."""
        return self._task(await self.json("POST", f"/api/task/{task_id}/complete"))

    async def declare_hash(self, task_id: str, hash: str, hash_algorithm: str = "md5") -> Task:
        """Declare the whole-file hash of a task created without one (idempotent). The task
        comes back `done` (and `instant` if you already had the file) or still receiving;
        `ServerIntegrityError` if every chunk is in and the file does not match."""
        body = {"hash": hash, "hashAlgorithm": hash_algorithm}
        return self._task(await self.json("PUT", f"/api/task/{task_id}/hash", json=body))

    async def prove(self, task_id: str, proof: str) -> Task:
        """Answer the task's possession challenge; the task comes back `done` if it matched."""
        body = await self.json("POST", f"/api/task/{task_id}/proof", json={"proof": proof})
        return self._task(body)

    async def health(self) -> dict[str, Any]:
        """The server's /health document (status, counters)."""
        return await self.json("GET", "/health")


def _no_reply(exc: BaseException) -> bool:
    return isinstance(exc, TransportError)
