"""AsyncClient end to end: parallel chunks out of order, a server killed and restarted
mid-upload, and a server in chaos mode that fails, stalls and cuts chunk requests."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.client.helpers import KiB, MiB, bytes_received, make_file, md5_of
from tests.conftest import SMALL_CHUNKS
from tests.server_process import ServerProcess
from upslice import AsyncClient
from upslice.client import Progress, RetryPolicy

PATIENT = RetryPolicy(attempts=20, base=0.05, cap=1.0)
BRISK = RetryPolicy(attempts=20, base=0.05, cap=0.3)  # also caps chaos's Retry-After: 1


class Shuffling(httpx.AsyncBaseTransport):
    """Real sockets, but every third chunk request is held back before it goes out, so later
    chunks finish first; records the completion order and the peak of parallel requests."""

    def __init__(self, hold: float = 0.15, pace: float = 0.0) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.hold = hold
        self.pace = pace
        self.finished: list[int] = []
        self.active = 0
        self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "PUT":
            return await self.inner.handle_async_request(request)
        index = int(request.url.path.rsplit("/", 1)[1])
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.hold if index % 3 == 0 else self.pace)
            response = await self.inner.handle_async_request(request)
            await response.aread()
        finally:
            self.active -= 1
        self.finished.append(index)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_parallel_chunks_complete_out_of_order(server: ServerProcess, tmp_path: Path) -> None:
    source = make_file(tmp_path / "a.bin", 2 * MiB + 1)
    transport = Shuffling()
    async with AsyncClient(server.url, transport=transport) as client:
        task = await client.upload(source, chunk_size=64 * KiB, concurrency=6)
        assert task.done and task.hash == md5_of(source)
        assert transport.peak == 6
        assert sorted(transport.finished) == list(range(task.chunk_count))
        assert transport.finished != sorted(transport.finished)
        out = await client.download(task.id, tmp_path / "a.out")
        assert out.read_bytes() == source.read_bytes()
        assert [t.id for t in await client.list(limit=5)] == [task.id]


async def test_upload_survives_a_server_restart(server: ServerProcess, tmp_path: Path) -> None:
    source = make_file(tmp_path / "b.bin", 4 * MiB)
    third = asyncio.Event()

    def watch(event: Progress) -> None:
        if event.phase == "uploading" and event.done_bytes > event.total_bytes // 3:
            third.set()

    async def crash() -> float:
        await third.wait()
        await asyncio.to_thread(server.kill)  # SIGKILL mid-upload, then the same port and data
        await asyncio.sleep(0.5)
        await asyncio.to_thread(server.start)
        return time.monotonic()

    transport = Shuffling(hold=0.02, pace=0.02)  # slow enough that the kill lands mid-way
    async with AsyncClient(server.url, transport=transport, retry=PATIENT) as client:
        retries: list[int] = []
        crasher = asyncio.create_task(crash())

        def track(event: Progress) -> None:
            watch(event)
            retries.append(event.retries)

        task = await client.upload(source, chunk_size=64 * KiB, concurrency=4, progress=track)
        back_at = await crasher
        assert task.done and task.hash == md5_of(source)
        assert max(retries) > 0  # it did hit the dead server and carried on
        assert time.monotonic() >= back_at
        out = await client.download(task.id, tmp_path / "b.out")
        assert out.read_bytes() == source.read_bytes()


async def test_chaos_mode_ends_byte_identical(tmp_path: Path) -> None:
    chaos = "fail=0.2,delay=0.2,cut=0.1,delay-max=0.3,seed=7"
    server = ServerProcess(tmp_path / "data", *SMALL_CHUNKS, "--chaos", chaos).start()
    try:
        source = make_file(tmp_path / "c.bin", 3 * MiB + 333)
        events: list[Progress] = []
        async with AsyncClient(server.url, retry=BRISK) as client:
            task = await client.upload(
                source, chunk_size=64 * KiB, concurrency=4, progress=events.append
            )
            assert task.done and task.hash == md5_of(source)
            assert events[-1].retries > 5  # chaos did strike, many times
            assert bytes_received(server.url) == source.stat().st_size  # no chunk counted twice
            out = await client.download(task.id, tmp_path / "c.out")
            assert out.read_bytes() == source.read_bytes()
    finally:
        server.stop()
