"""SIGTERM on a real `upslice serve`: refuse new connections, drain in-flight chunks, exit 0.

The chunk PUT is written by hand on a socket with `Expect: 100-continue`: the server's
"100 Continue" proves the app is reading the body, so the signal lands while the request is
in flight, with no sleep to guess when that is.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import SMALL_CHUNKS
from tests.server_process import ServerProcess
from tests.taskflow import create, random_bytes

CHUNK = 1024
DRAINING = "Waiting for connections to close"  # uvicorn, once its quick close is over


def start_chunk_put(server: ServerProcess, task: dict[str, Any], first: bytes) -> socket.socket:
    """Send the headers of a PUT of chunk 0, wait for 100 Continue, then send `first`."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = (
        f"PUT /api/task/{task['id']}/chunk/0 HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {CHUNK}\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    sock.sendall(head.encode())
    interim = b""
    while not interim.endswith(b"\r\n\r\n"):
        piece = sock.recv(1)
        assert piece, f"connection closed before 100 Continue: {interim!r}"
        interim += piece
    assert interim.startswith(b"HTTP/1.1 100"), interim
    sock.sendall(first)
    return sock


def eventually(condition: Callable[[], bool], deadline: float = 15) -> bool:
    """Poll `condition` until it holds, or give up at the deadline."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def new_task(server: ServerProcess, data: bytes) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        task: dict[str, Any] = create(http, data, CHUNK).json()
        return task


def received_after_restart(server: ServerProcess, task: dict[str, Any]) -> list[int]:
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            chunks: list[int] = http.get(f"/api/task/{task['id']}").json()["receivedChunks"]
            return chunks
    finally:
        server.stop()


def test_sigterm_drains_an_inflight_chunk_and_exits_zero(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", *SMALL_CHUNKS, "--shutdown-timeout", "30").start()
    data = random_bytes(2 * CHUNK)
    task = new_task(server, data)
    assert server.proc is not None
    with start_chunk_put(server, task, data[:300]) as sock:
        server.proc.send_signal(signal.SIGTERM)
        assert eventually(lambda: refuses(server.port)), "still accepting after SIGTERM"
        assert eventually(lambda: DRAINING in server.log()), "not waiting for the request"
        assert server.proc.poll() is None, "exited before the in-flight request finished"
        sock.sendall(data[300:CHUNK])
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = json.loads(response.read())
    assert response.status == 200, body
    assert body["receivedChunks"] == [0]
    assert server.proc.wait(20) == 0
    assert received_after_restart(server, task) == [0]


def test_a_request_still_inflight_after_the_timeout_is_cut(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", *SMALL_CHUNKS, "--shutdown-timeout", "1").start()
    data = random_bytes(2 * CHUNK)
    task = new_task(server, data)
    assert server.proc is not None
    with start_chunk_put(server, task, data[:300]) as sock:
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(20) == 0  # the rest of the body never comes
        reply = b""
        try:
            while piece := sock.recv(65536):
                reply += piece
        except ConnectionResetError:
            pass
    assert not reply.startswith(b"HTTP/1.1 2"), reply
    assert "timeout graceful shutdown exceeded" in server.log()
    assert received_after_restart(server, task) == []
