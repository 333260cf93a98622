"""Uploads to any tus 1.0 server: creation, HEAD resume, PATCH (with checksums when offered),
and, when the server offers `concatenation`, parallel partial uploads joined by a final one.

The server's offset is the truth: every retry and every rerun first asks for it with HEAD, so
bytes the server already holds are never sent again.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from upslice.client.api import TasksApi
from upslice.client.chunked import guess_type
from upslice.client.errors import (
    Conflict,
    IntegrityError,
    NotFound,
    ServerError,
    UpsliceError,
)
from upslice.client.hashing import hash_source_async, upload_checksum, whole_checksum
from upslice.client.meter import Meter, ProgressCallback
from upslice.client.models import Task
from upslice.client.retry import retryable, with_retries
from upslice.client.source import PathOrFile, Source
from upslice.client.tus_state import TusState
from upslice.client.workers import run_all

TUS_VERSION = "1.0.0"
DEFAULT_CHUNK = 5 * 1024 * 1024
CHECKSUM_PREFERENCE = ("md5", "sha1", "sha256")
CHECKSUM_MISMATCH = 460  # tus checksum extension
Remember = Callable[[str], None]


class OffsetMoved(UpsliceError):
    """409 to a PATCH: our idea of the offset is stale (a cut request may have been kept)."""


@dataclass(frozen=True)
class Capabilities:
    extensions: frozenset[str]
    checksum: str | None  # the algorithm both sides know, if the server does checksums
    max_size: int | None

    @classmethod
    def of(cls, response: httpx.Response) -> Capabilities:
        extensions = frozenset(_split(response.headers.get("tus-extension", "")))
        offered = set(_split(response.headers.get("tus-checksum-algorithm", "").lower()))
        usable = [a for a in CHECKSUM_PREFERENCE if a in offered]
        checksum = usable[0] if "checksum" in extensions and usable else None
        max_size = response.headers.get("tus-max-size", "")
        return cls(extensions, checksum, int(max_size) if max_size.isdigit() else None)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def encode_metadata(values: Mapping[str, Any]) -> str:
    """`Upload-Metadata`: comma-separated `key base64(value)` pairs."""
    pairs = []
    for key, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value)
        pairs.append(f"{key} {base64.b64encode(text.encode()).decode()}")
    return ",".join(pairs)


def tus_retryable(exc: BaseException) -> bool:
    if isinstance(exc, OffsetMoved):
        return True
    if isinstance(exc, ServerError) and exc.status == CHECKSUM_MISMATCH:
        return True
    return retryable(exc)


def plan_parts(size: int, chunk_size: int, parts: int) -> list[tuple[int, int]]:
    """`parts` byte ranges covering [0, size), each a whole number of chunks but the last."""
    chunks = max(1, math.ceil(size / chunk_size))
    parts = max(1, min(parts, chunks))
    per_part = math.ceil(chunks / parts)
    bounds = [min(size, i * per_part * chunk_size) for i in range(parts + 1)]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a] or [(0, size)]


class TusSession:
    """One file going to one tus endpoint."""

    def __init__(
        self,
        client: TasksApi,
        endpoint: str,
        source: Source,
        meter: Meter,
        chunk_size: int,
        metadata: str,
        whole_metadata: str = "",
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.source = source
        self.meter = meter
        self.chunk_size = chunk_size
        self.metadata = metadata
        # for the upload that is the whole file (never a part): its checksum
        self.whole_metadata = ",".join(m for m in (metadata, whole_metadata) if m)
        self.headers = {"Tus-Resumable": TUS_VERSION}
        self.caps = Capabilities(frozenset(), None, None)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.client.send(method, url, headers=headers, **kwargs)

    async def discover(self) -> Capabilities:
        response = await with_retries(
            "OPTIONS", self.client.retry, lambda: self.request("OPTIONS", self.endpoint)
        )
        self.caps = Capabilities.of(response)
        if self.caps.max_size is not None and self.source.size > self.caps.max_size:
            raise ServerError(413, "too_large", f"the server takes at most {self.caps.max_size}")
        return self.caps

    async def create(self, length: int, *, partial: bool) -> str:
        headers = {"Upload-Length": str(length), "Upload-Metadata": self.whole_metadata}
        if partial:
            headers |= {"Upload-Concat": "partial", "Upload-Metadata": self.metadata}
        response = await with_retries(
            "create",
            self.client.retry,
            lambda: self.request("POST", self.endpoint, headers=headers),
        )
        return urljoin(self.endpoint, response.headers["location"])

    async def offset(self, url: str) -> int | None:
        """The server's offset for `url`, or None when the upload is gone (or never was)."""
        try:
            response = await with_retries(
                "HEAD", self.client.retry, lambda: self.request("HEAD", url)
            )
        except (NotFound, Conflict):
            return None
        except ServerError as exc:
            if exc.status == 403:
                return None
            raise
        value = response.headers.get("upload-offset", "")
        return int(value) if value.isdigit() else None

    async def send(self, url: str, start: int, length: int, offset: int) -> None:
        """PATCH bytes [start + offset, start + length) to `url` chunk by chunk."""
        stale = False

        async def attempt() -> None:
            nonlocal offset, stale
            if stale:
                now = await self.offset(url)
                if now is None:
                    raise NotFound(404, "not_found", f"the tus upload {url} is gone")
                self.meter.add(now - offset, wire=False)
                offset, stale = now, False
            if offset >= length:
                return
            size = min(self.chunk_size, length - offset)
            data = await asyncio.to_thread(self.source.read_exactly, start + offset, size)
            headers = {
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": str(offset),
            }
            if self.caps.checksum:
                headers["Upload-Checksum"] = upload_checksum(data, self.caps.checksum)
            try:
                response = await self.request("PATCH", url, content=data, headers=headers)
            except Conflict as exc:
                stale = True
                raise OffsetMoved(str(exc)) from exc
            except UpsliceError:
                stale = True
                raise
            now = int(response.headers.get("upload-offset", offset + size))
            self.meter.add(now - offset)
            offset = now

        while offset < length:
            await with_retries(
                f"PATCH {url}",
                self.client.retry,
                attempt,
                on_retry=self.meter.retry,
                should_retry=tus_retryable,
            )

    async def part(
        self, start: int, end: int, url: str | None, *, partial: bool, remember: Remember
    ) -> str:
        """Resume (or create, then `remember`) the upload of [start, end) and finish it."""
        offset = await self.offset(url) if url else None
        if url is None or offset is None:
            url, offset = await self.create(end - start, partial=partial), 0
            remember(url)
        self.meter.add(offset, wire=False)
        await self.send(url, start, end - start, offset)
        return url

    async def final(self, urls: list[str]) -> str:
        paths = " ".join(_same_origin_path(self.endpoint, u) for u in urls)
        headers = {"Upload-Concat": f"final;{paths}", "Upload-Metadata": self.whole_metadata}
        response = await with_retries(
            "concatenate",
            self.client.retry,
            lambda: self.request("POST", self.endpoint, headers=headers),
        )
        return urljoin(self.endpoint, response.headers["location"])


def _same_origin_path(endpoint: str, url: str) -> str:
    """The spec's examples name partial uploads by path; other origins keep the full URL."""
    a, b = urlsplit(endpoint), urlsplit(url)
    return b.path if (a.scheme, a.netloc) == (b.scheme, b.netloc) else url


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
    endpoint = urljoin(client.server + "/", client.tus_path.lstrip("/"))
    state = TusState(client.tus_state)
    with Source(file) as source:
        name = file_name or source.name
        kind = file_type or guess_type(name)
        meter = Meter(name, source.size, progress)
        meter.start("hashing")
        digest = await hash_source_async(source, hash_algorithm, lambda n: meter.add(n))
        fields = {"filename": name, "filetype": kind, **(metadata or {})}
        # the server verifies the whole file against it (upslice does; others keep it)
        checksum = (
            {} if "checksum" in fields else {"checksum": whole_checksum(hash_algorithm, digest)}
        )
        session = TusSession(
            client,
            endpoint,
            source,
            meter,
            chunk_size or DEFAULT_CHUNK,
            encode_metadata(fields),
            encode_metadata(checksum),
        )
        caps = await session.discover()
        key = f"{endpoint} {source.size} {hash_algorithm}:{digest}"
        saved = state.get(key) or {}
        meter.start("uploading")
        parallel = "concatenation" in caps.extensions and concurrency > 1
        ranges = plan_parts(source.size, session.chunk_size, concurrency if parallel else 1)
        if len(ranges) == 1:
            parallel = False
        url = saved.get("url")
        if saved.get("done") and url and await session.offset(url) == source.size:
            meter.add(source.size, wire=False)  # finished in an earlier run
        elif parallel:
            url = await upload_parts(session, state, key, saved, ranges)
        else:
            url = await session.part(
                0,
                source.size,
                url,
                partial=False,
                remember=lambda new: state.put(key, {"url": new}),
            )
        state.put(key, {"url": url, "done": True})
        meter.finish()
        return await describe(client, url, name, kind, source.size, digest, hash_algorithm)


async def upload_parts(
    session: TusSession,
    state: TusState,
    key: str,
    saved: dict[str, Any],
    ranges: list[tuple[int, int]],
) -> str:
    """Partial uploads in parallel, then the final upload that joins them."""
    known = saved.get("parts") if saved.get("ranges") == [list(r) for r in ranges] else None
    urls: list[str | None] = list(known) if known else [None] * len(ranges)

    def remember(i: int, url: str) -> None:
        urls[i] = url
        state.put(key, {"parts": urls, "ranges": [list(r) for r in ranges]})

    async def one(i: int) -> None:
        start, end = ranges[i]
        await session.part(start, end, urls[i], partial=True, remember=lambda u: remember(i, u))

    await run_all(one(i) for i in range(len(ranges)))
    return await session.final([u for u in urls if u is not None])


async def describe(
    client: TasksApi, url: str, name: str, kind: str, size: int, digest: str, algorithm: str
) -> Task:
    """The finished upload as a Task: the tasks API's view when the server is upslice."""
    upload_id = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    try:  # one plain request, no retries: a foreign server may answer anything
        response = await client.send("GET", f"/api/task/{upload_id}")
        task: Task | None = Task.from_json(response.json())
    except (UpsliceError, ValueError, KeyError, TypeError):
        task = None  # not upslice: describe what we know
    if task is not None and task.done and task.id == upload_id:
        if task.hash_algorithm == algorithm and task.hash != digest:  # end-to-end check
            raise IntegrityError(f"{name}: the server's {algorithm} differs from the file's")
        return task
    return Task(
        id=upload_id,
        hash=digest,
        hash_algorithm=algorithm,
        file_name=name,
        file_type=kind,
        file_size=size,
        chunk_size=0,
        chunk_count=0,
        received_chunks=(),
        current_chunk=0,
        uploaded_bytes=size,
        done=True,
        state="complete",
        protocol="tus",
        file_url=url,
        raw={"id": upload_id, "done": True, "fileUrl": url, "protocol": "tus", "hash": digest},
    )
