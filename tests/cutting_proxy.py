"""A TCP proxy that drops the connection after N client-to-server bytes, for resume tests.

Runs its own event loop in a thread, so blocking clients (requests, httpx, node) can use it:

    with CuttingProxy(server.port) as proxy:
        proxy.arm(300_000)        # the connection that carries byte 300,000 is cut there
        upload_through(proxy.url)
        assert proxy.cuts == 1

The cut aborts (RST) the client's side, so the client sees a failed request at once; the
server gets the bytes before the cut and then the end of the stream (FIN), so its request body
ends early at a known byte, whatever the timing. Its connection is aborted once it closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType


class CuttingProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.cuts = 0
        self.upstream_bytes = 0
        self._budget: int | None = None
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def arm(self, after: int) -> None:
        """Cut once, when `after` more client-to-server bytes have passed (any connection)."""
        with self._lock:
            self._budget = after

    def start(self) -> CuttingProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> CuttingProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def _take(self, size: int) -> int | None:
        """How many of `size` bytes may pass before the cut (None: all of them, no cut)."""
        with self._lock:
            self.upstream_bytes += size
            if self._budget is None:
                return None
            if size < self._budget:
                self._budget -= size
                return None
            allowed, self._budget = self._budget, None
            self.cuts += 1
            return allowed

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.transport.abort()
            return
        writers = (client_w, server_w)

        def abort() -> None:
            for writer in writers:
                writer.transport.abort()

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, up: bool) -> None:
            cut = False
            try:
                while data := await src.read(64 * 1024):
                    allowed = self._take(len(data)) if up else None
                    if allowed is not None:
                        cut = True
                        client_w.transport.abort()  # the client's request fails at once
                        dst.write(data[:allowed])
                        with contextlib.suppress(ConnectionError):
                            await dst.drain()
                            dst.write_eof()  # the server reads every byte before the cut
                        return  # the other pump ends both sides once the server closes
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                if not cut:
                    abort()

        await asyncio.gather(
            pump(client_r, server_w, True), pump(server_r, client_w, False), return_exceptions=True
        )
