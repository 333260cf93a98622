"""The default upload: chunks go out while the file is hashed, the hash is declared later.

An instant upload (own file, or another owner's after a proof) ends the sending early; an
interrupted upload resumes its task from the client's state file, sending only what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import httpx

from tests.client.helpers import KiB, MiB, bytes_received, make_file, md5_of
from tests.host_app import HostApp
from tests.server_process import ServerProcess
from tests.waiting import in_flight, wait_for
from upslice import AsyncClient
from upslice.client import Progress

CHUNK = 64 * KiB


class Gate(httpx.AsyncBaseTransport):
    """Lets the first `free` chunk requests through, holds the rest until a reply to a
    request whose path ends with `opens` has come back; records every chunk's checksum."""

    def __init__(self, free: int, opens: str) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.free = free
        self.opens = opens
        self.open = asyncio.Event()
        self.checksums: list[str | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if "/chunk/" in path:
            self.checksums.append(request.headers.get("upload-checksum"))
            if len(self.checksums) > self.free:
                await self.open.wait()
        response = await self.inner.handle_async_request(request)
        if path.endswith(self.opens):
            await response.aread()
            self.open.set()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_upload_while_hashing_is_byte_identical_with_crc32c_chunks(
    server: ServerProcess, tmp_path: Path, upload_state_dir: Path
) -> None:
    source = make_file(tmp_path / "a.bin", 2 * MiB + 11)
    gate = Gate(free=10**6, opens="/never")
    events: list[Progress] = []
    async with AsyncClient(server.url, transport=gate) as client:
        task = await client.upload(source, chunk_size=CHUNK, progress=events.append)
        assert task.done and not task.instant and task.hash == md5_of(source)
        assert events[-1].sent_bytes == source.stat().st_size
        assert len(gate.checksums) == task.chunk_count
        assert all(c is not None and c.startswith("crc32c ") for c in gate.checksums)
        out = await client.download(task.id, tmp_path / "a.out")
        assert out.read_bytes() == source.read_bytes()
        saved = json.loads((upload_state_dir / "uploads.json").read_text())
        assert [entry["taskId"] for entry in saved.values()] == [task.id]

        before = bytes_received(server.url)  # unchanged since: the same task, nothing sent
        again = await client.upload(source)
        assert again.id == task.id and bytes_received(server.url) == before

        await client.delete(task.id)  # the server forgot it: a new task, sent again
        fresh = await client.upload(source, chunk_size=CHUNK)
        assert fresh.id != task.id and fresh.done and not fresh.instant
        assert bytes_received(server.url) - before == source.stat().st_size
        saved = json.loads((upload_state_dir / "uploads.json").read_text())
        assert [entry["taskId"] for entry in saved.values()] == [fresh.id]


async def test_own_file_makes_it_instant_midway_and_sending_stops(
    server: ServerProcess, tmp_path: Path
) -> None:
    source = make_file(tmp_path / "b.bin", 40 * CHUNK + 5)
    async with AsyncClient(server.url) as client:
        first = await client.upload(source, chunk_size=CHUNK)
    before = bytes_received(server.url)
    gate = Gate(free=3, opens="/hash")
    events: list[Progress] = []
    async with AsyncClient(server.url, transport=gate) as client:
        copy = await client.upload(
            source, chunk_size=CHUNK, reuse=False, progress=events.append, concurrency=2
        )
        assert copy.done and copy.instant and copy.id != first.id
        assert events[-1].sent_bytes <= 5 * CHUNK  # a few chunks, not the file
        assert bytes_received(server.url) - before <= 5 * CHUNK
        assert len(gate.checksums) < copy.chunk_count
        out = await client.download(copy.id, tmp_path / "b.out")
        assert out.read_bytes() == source.read_bytes()


async def test_another_owners_file_is_instant_after_a_proof_midway(
    host: HostApp, tmp_path: Path
) -> None:
    source = make_file(tmp_path / "c.bin", 40 * CHUNK + 9, seed=4)
    async with AsyncClient(host.url, headers={"x-user": "alice"}) as alice:
        await alice.upload(source, chunk_size=CHUNK)
    before = bytes_received(host.url)
    gate = Gate(free=3, opens="/proof")
    async with AsyncClient(host.url, headers={"x-user": "bob"}, transport=gate) as bob:
        task = await bob.upload(source, chunk_size=CHUNK, concurrency=2)
        assert task.done and task.instant
        assert bytes_received(host.url) - before <= 5 * CHUNK
        out = await bob.download(task.id, tmp_path / "c.out")
        assert out.read_bytes() == source.read_bytes()


async def test_a_cancelled_upload_resumes_its_task_and_sends_only_the_rest(
    server: ServerProcess, tmp_path: Path
) -> None:
    source = make_file(tmp_path / "d.bin", 4 * MiB + 3, seed=8)
    quarter = asyncio.Event()

    def track(event: Progress) -> None:
        if event.phase == "uploading" and event.done_bytes > event.total_bytes // 4:
            quarter.set()

    async with AsyncClient(server.url) as client:
        first = asyncio.create_task(
            client.upload(source, chunk_size=CHUNK, concurrency=2, progress=track)
        )
        await asyncio.wait_for(quarter.wait(), 60)
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
        await asyncio.to_thread(
            wait_for, lambda: in_flight(server.url) == 1, "the server to finish the cut chunks"
        )
        (held,) = await client.list()
        assert not held.done and 0 < held.uploaded_bytes < source.stat().st_size
        before = bytes_received(server.url)
        events: list[Progress] = []
        task = await client.upload(source, chunk_size=CHUNK, progress=events.append)
        assert task.id == held.id and task.done and task.hash == md5_of(source)
        sent = source.stat().st_size - held.uploaded_bytes
        assert events[-1].sent_bytes == sent
        assert bytes_received(server.url) - before == sent
