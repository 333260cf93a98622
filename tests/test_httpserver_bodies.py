"""Request bodies through upslice's protocol: handed to the app piece by piece as httptools
delivered them, and the socket paused while the app lets more than uvicorn's high-water mark
wait (the pieces are kept in a list instead of uvicorn's bytearray, so the pause is ours)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT

from upslice.httpserver import HeaderDeadlineProtocol, KeepBodyCycle, config_for
from upslice.settings import Settings

MiB = 1024 * 1024


async def wait_for(condition: Any, what: str, seconds: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_a_body_the_app_does_not_read_pauses_the_socket_and_arrives_whole(
    tmp_path: Path,
) -> None:
    may_read = asyncio.Event()
    received: list[bytes] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await may_read.wait()
        while True:
            message = await receive()
            assert isinstance(message["body"], bytes)
            received.append(message["body"])
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    settings = Settings(data_dir=tmp_path, port=0, log_level="warning", demo=False)
    server = uvicorn.Server(config_for(app, settings))
    serving = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started, "the server to start")
    port = server.servers[0].sockets[0].getsockname()[1]
    body = os.urandom(8 * MiB)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body))
    writer.write(body)
    sending = asyncio.create_task(writer.drain())
    try:
        [connection] = server.server_state.connections
        assert isinstance(connection, HeaderDeadlineProtocol)
        protocol = connection

        def waiting() -> int:
            cycle = protocol.cycle
            return cycle.buffered if isinstance(cycle, KeepBodyCycle) else 0

        await wait_for(lambda: waiting() > HIGH_WATER_LIMIT, "the body to back up")
        transport = protocol.transport
        await wait_for(lambda: not transport.is_reading(), "reading to pause", seconds=10)
        assert waiting() < HIGH_WATER_LIMIT + 512 * 1024  # one more read at most, not the body
        may_read.set()
        await sending
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 204")
        assert b"".join(received) == body and len(received) > 1
    finally:
        may_read.set()
        writer.close()
        server.should_exit = True
        await serving
