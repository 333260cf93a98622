"""Request bodies through upslice's protocol: handed to the app piece by piece as received,
and the socket paused while the app lets more than uvicorn's high-water mark wait (the pieces
are kept in a list instead of uvicorn's bytearray, so the pause is ours). A body with a long
Content-Length bypasses httptools, so the requests that follow it on the same connection
must still be parsed from the byte after it, however the bytes are split."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT

from upslice.httpserver import RAW_BODY_FROM, HeaderDeadlineProtocol, KeepBodyCycle, config_for
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


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers every request with its method, path, body length and MD5, as JSON."""
    if scope["type"] != "http":
        return
    digest, length = hashlib.md5(), 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        digest.update(message["body"])
        length += len(message["body"])
        if not message.get("more_body"):
            break
    reply = json.dumps(
        {
            "method": scope["method"],
            "path": scope["path"],
            "length": length,
            "md5": digest.hexdigest(),
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(reply))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": reply})


def requests_in_a_row(rng: random.Random) -> tuple[bytes, list[int], list[dict[str, Any]]]:
    """Bodies below, at and above RAW_BODY_FROM, and bodiless requests, back to back: the
    bytes, where each request ends in them, and the replies `echo` must give."""
    wire, ends, expected = b"", [], []
    sizes = [RAW_BODY_FROM + 1, 0, 10, RAW_BODY_FROM, 3 * RAW_BODY_FROM + 7, RAW_BODY_FROM - 1, 0]
    for number, size in enumerate(sizes):
        body = rng.randbytes(size)
        method = "GET" if size == 0 else "PUT"
        wire += b"%s /r%d HTTP/1.1\r\nHost: t\r\n" % (method.encode(), number)
        wire += b"Content-Length: %d\r\n\r\n" % size if size else b"\r\n"
        wire += body
        ends.append(len(wire))
        expected.append(
            {
                "method": method,
                "path": f"/r{number}",
                "length": size,
                "md5": hashlib.md5(body).hexdigest(),
            }
        )
    return wire, ends, expected


async def replies(reader: asyncio.StreamReader, count: int) -> list[dict[str, Any]]:
    answers = []
    for _ in range(count):
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        answers.append(json.loads(await reader.readexactly(length)))
    return answers


async def test_requests_after_a_body_taken_past_the_parser_are_parsed_however_split(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, port=0, log_level="warning", demo=False)
    server = uvicorn.Server(config_for(echo, settings))
    serving = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started, "the server to start")
    port = server.servers[0].sockets[0].getsockname()[1]
    rng = random.Random(7)
    try:
        for split in ("whole", "random", "at every body end"):
            wire, ends, expected = requests_in_a_row(rng)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if split == "whole":  # all pipelined in one write
                cuts = [len(wire)]
            elif split == "random":
                cuts = [*sorted(rng.sample(range(1, len(wire)), 40)), len(wire)]
            else:  # each write ends with a body and the first bytes of the next request
                cuts = [min(end + 5, len(wire)) for end in ends]
            start = 0
            for cut in cuts:
                writer.write(wire[start:cut])
                await writer.drain()
                start = cut
            assert await replies(reader, len(expected)) == expected, split
            writer.close()
    finally:
        server.should_exit = True
        await serving
