"""A lean HTTP/1.1 client on raw asyncio streams, so that the client is never the bottleneck.

Bodies go out with `loop.sendfile` (zero copy from the page cache), replies are parsed just far
enough to read a status, headers and a small body. The null-server row is a baseline: the
same client against a server that only writes to disk (the fastest row shows what it can send).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

MiB = 1024 * 1024


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    sent_at: float  # when the last body byte was handed to the kernel
    replied_at: float  # when the status line arrived

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    """One keep-alive connection; requests on it go one after another."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self.reader, self.writer

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        file: tuple[BinaryIO, int, int] | None = None,
    ) -> Reply:
        """Send one request; `file` is (handle, offset, length) sent with sendfile."""
        reader, writer = await self._open()
        length = file[2] if file else len(body)
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if length or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {length}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        if file:
            handle, offset, count = file
            await writer.drain()
            loop = asyncio.get_running_loop()
            await loop.sendfile(writer.transport, handle, offset, count)
        await writer.drain()
        sent_at = time.perf_counter()
        status_line = await reader.readline()
        replied_at = time.perf_counter()
        if not status_line:
            raise ConnectionError(f"{method} {path}: connection closed without a reply")
        status = int(status_line.split()[1])
        reply_headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            reply_headers[name.strip().lower()] = value.strip()
        content = await self._read_body(reader, reply_headers, method)
        if reply_headers.get("connection", "").lower() == "close":
            await self.close()
        return Reply(status, reply_headers, content, sent_at, replied_at)

    @staticmethod
    async def _read_body(
        reader: asyncio.StreamReader, headers: dict[str, str], method: str
    ) -> bytes:
        if method == "HEAD":
            return b""
        if "content-length" in headers:
            return await reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int((await reader.readline()).split(b";")[0], 16):
                parts.append(await reader.readexactly(size))
                await reader.readline()
            await reader.readline()
            return b"".join(parts)
        return b""

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except ConnectionError:
                pass
        self.reader = self.writer = None


def expect(reply: Reply, *statuses: int) -> Reply:
    if reply.status not in statuses:
        raise RuntimeError(f"unexpected {reply.status}: {reply.body[:300]!r}")
    return reply


async def tus_upload(
    host: str,
    port: int,
    path: Path,
    patch_size: int | None,
    prefix: str = "/files/",
    metadata: str | None = None,
) -> tuple[float, float]:
    """Create a tus upload and PATCH the file.

    Returns the seconds taken and the reply latency of the last PATCH.
    """
    size = path.stat().st_size
    tus = {"Tus-Resumable": "1.0.0"}
    conn = Connection(host, port)
    started = time.perf_counter()
    create_headers = {**tus, "Upload-Length": str(size)}
    if metadata:
        create_headers["Upload-Metadata"] = metadata
    created = expect(await conn.request("POST", prefix, create_headers), 201)
    location = path_of(created.headers["location"])
    offset, latency = 0, 0.0
    with open(path, "rb") as handle:
        while offset < size:
            count = min(patch_size or size, size - offset)
            headers = {
                **tus,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            }
            reply = await conn.request("PATCH", location, headers, file=(handle, offset, count))
            expect(reply, 204)
            offset = int(reply.headers["upload-offset"])
            latency = reply.replied_at - reply.sent_at
    seconds = time.perf_counter() - started
    await conn.close()
    return seconds, latency


async def tasks_upload(
    host: str, port: int, path: Path, digest: str, streams: int, chunk_size: int
) -> tuple[float, float]:
    """The tasks API with `streams` connections; returns (seconds, extra wait of the completing
    chunk over the median chunk)."""
    size = path.stat().st_size
    control = Connection(host, port)
    started = time.perf_counter()
    task = expect(
        await control.request(
            "POST",
            "/api/task",
            {"Content-Type": "application/json"},
            json.dumps(
                {"hash": digest, "fileName": path.name, "fileSize": size, "chunkSize": chunk_size}
            ).encode(),
        ),
        201,
    ).json()
    await control.close()
    count, chunk = task["chunkCount"], task["chunkSize"]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(index)
    durations: dict[int, float] = {}
    done_at: list[int] = []

    async def stream() -> None:
        conn = Connection(host, port)
        with open(path, "rb") as handle:
            while not queue.empty():
                index = queue.get_nowait()
                length = min(chunk, size - index * chunk)
                began = time.perf_counter()
                reply = await conn.request(
                    "PUT",
                    f"/api/task/{task['id']}/chunk/{index}",
                    {"Content-Type": "application/octet-stream"},
                    file=(handle, index * chunk, length),
                )
                durations[index] = time.perf_counter() - began
                if expect(reply, 200).json()["done"]:
                    done_at.append(index)
        await conn.close()

    await asyncio.gather(*(stream() for _ in range(streams)))
    seconds = time.perf_counter() - started
    await control.request("DELETE", f"/api/task/{task['id']}")  # the next run uploads again
    await control.close()
    if not done_at:
        raise RuntimeError("no chunk reply said done")
    finishing = done_at[0]
    others = sorted(d for i, d in durations.items() if i != finishing) or [0.0]
    extra = durations[finishing] - others[len(others) // 2]
    return seconds, max(extra, 0.0)


async def small_uploads(
    host: str, port: int, blobs: list[tuple[Path, str]], protocol: str, prefix: str = "/files/"
) -> tuple[float, list[float]]:
    """Upload every (file, md5) of `blobs` at once (create + one body request each); returns
    (seconds, the body requests' latencies). Distinct files, so no upload joins another."""
    latencies: list[float] = []

    async def one(blob: Path, digest: str) -> None:
        size = blob.stat().st_size
        conn = Connection(host, port)
        with open(blob, "rb") as handle:
            if protocol == "tasks":
                body = {"hash": digest, "fileName": blob.name, "fileSize": size}
                created = await conn.request(
                    "POST",
                    "/api/task",
                    {"Content-Type": "application/json"},
                    json.dumps(body).encode(),
                )
                target = f"/api/task/{expect(created, 201).json()['id']}/chunk/0"
                method, headers, ok = "PUT", {"Content-Type": "application/octet-stream"}, 200
            else:
                tus = {"Tus-Resumable": "1.0.0"}
                created = await conn.request("POST", prefix, {**tus, "Upload-Length": str(size)})
                target = path_of(expect(created, 201).headers["location"])
                method, ok = "PATCH", 204
                headers = {
                    **tus,
                    "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream",
                }
            began = time.perf_counter()
            expect(await conn.request(method, target, headers, file=(handle, 0, size)), ok)
            latencies.append(time.perf_counter() - began)
        await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(one(blob, digest) for blob, digest in blobs))
    return time.perf_counter() - started, latencies


def path_of(location: str) -> str:
    """The path of a Location header, absolute or not."""
    if "://" in location:
        location = location.split("://", 1)[1].split("/", 1)[1]
    return "/" + location.lstrip("/")
