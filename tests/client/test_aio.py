"""AsyncClient end to end: parallel chunks out of order, a server killed and restarted
mid-upload, and a server in chaos mode that fails, stalls and cuts chunk requests."""

from __future__ import annotations

import asyncio
import contextlib
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
    """Real sockets, but chunk requests are ordered by conditions, not by timing: none goes out
    until `gate` of them are in flight at once, every third one waits until a later chunk has
    finished (so the completion order is shuffled), and none goes out while `may_send` is
    clear. Records the completion order and the peak of parallel requests."""

    def __init__(self, gate: int = 0) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.gate = gate
        self.may_send = asyncio.Event()
        self.may_send.set()
        self.changed = asyncio.Condition()
        self.finished: list[int] = []
        self.active = 0
        self.held = 0
        self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "PUT" or "/chunk/" not in request.url.path:  # not a chunk
            return await self.inner.handle_async_request(request)
        index = int(request.url.path.rsplit("/", 1)[1])
        async with self.changed:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.changed.notify_all()
        try:
            await self.hold(index)
            await self.may_send.wait()
            response = await self.inner.handle_async_request(request)
            await response.aread()
        finally:
            async with self.changed:
                self.active -= 1
                self.changed.notify_all()
        async with self.changed:
            self.finished.append(index)
            self.changed.notify_all()
        return response

    async def hold(self, index: int) -> None:
        """Wait for the gate, then (every third chunk) for a later chunk to finish, unless
        every request in flight is held: then nothing else could finish first."""
        async with self.changed:
            with contextlib.suppress(TimeoutError):  # a client that never reaches the gate
                async with asyncio.timeout(30):  # fails the peak assertion, not the upload
                    await self.changed.wait_for(lambda: self.peak >= self.gate)
            if index % 3:
                return
            self.held += 1
            self.changed.notify_all()
            try:
                await self.changed.wait_for(
                    lambda: any(i > index for i in self.finished) or self.held == self.active
                )
            finally:
                self.held -= 1
                self.changed.notify_all()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_parallel_chunks_complete_out_of_order(server: ServerProcess, tmp_path: Path) -> None:
    source = make_file(tmp_path / "a.bin", 2 * MiB + 1)
    transport = Shuffling(gate=6)
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
    transport = Shuffling()
    third, retried = asyncio.Event(), asyncio.Event()

    def track(event: Progress) -> None:
        if event.phase == "uploading" and event.done_bytes > event.total_bytes // 3:
            if not third.is_set():  # a third is in: nothing more goes out until the kill
                third.set()
                transport.may_send.clear()
        if event.retries:
            retried.set()

    async def crash() -> None:
        async with asyncio.timeout(60):
            await third.wait()
            await asyncio.to_thread(server.kill)  # SIGKILL mid-upload, then same port and data
            transport.may_send.set()
            await retried.wait()  # the client hit the dead server and is retrying
            await asyncio.to_thread(server.start)

    async with AsyncClient(server.url, transport=transport, retry=PATIENT) as client:
        crasher = asyncio.create_task(crash())
        task = await client.upload(source, chunk_size=64 * KiB, concurrency=4, progress=track)
        await crasher
        assert task.done and task.hash == md5_of(source)
        assert retried.is_set()  # it did hit the dead server and carried on
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
