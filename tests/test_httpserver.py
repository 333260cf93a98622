"""Slow and idle clients against a real server with short timeouts: they are cut off, and
everyone else keeps being served."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.tus_cases import OCTETS, TUS, create
from tests.server_process import ServerProcess
from tests.taskflow import md5_hex

HEADER_TIMEOUT = 2.0
KEEPALIVE_TIMEOUT = 1
BODY_TIMEOUT = 1.5


@pytest.fixture(scope="module")
def timed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("timeouts") / "data"
    args = (
        "--min-chunk-size", "1024",
        "--header-timeout", str(HEADER_TIMEOUT),
        "--keepalive-timeout", str(KEEPALIVE_TIMEOUT),
        "--body-timeout", str(BODY_TIMEOUT),
    )  # fmt: skip
    proc = ServerProcess(data, *args).start()
    yield proc
    proc.stop()


@pytest.fixture
def client(timed: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=timed.url, timeout=30) as http:
        yield http


def read_until_closed(sock: socket.socket, deadline: float) -> bytes:
    """Everything the server sends until it closes the connection (or the deadline passes)."""
    received = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received
        if not piece:
            return received
        received += piece
    raise AssertionError(f"the server kept the connection open; got {received!r}")


class SlowClient(threading.Thread):
    """Sends a request's header lines one every `pause` seconds, never finishing them."""

    def __init__(self, port: int, pause: float) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.pause = pause
        self.lines_sent = 0
        self.closed_after: float | None = None

    def run(self) -> None:
        started = time.monotonic()
        try:
            self.sock.sendall(b"POST /api/task HTTP/1.1\r\nHost: x\r\n")
            while time.monotonic() - started < 30:
                time.sleep(self.pause)  # the client's behaviour, not a synchronisation
                self.sock.sendall(b"X-Slow-%d: y\r\n" % self.lines_sent)
                self.lines_sent += 1
        except OSError:
            self.closed_after = time.monotonic() - started
        finally:
            self.sock.close()


def test_slow_headers_are_cut_off_while_others_are_served(
    timed: ServerProcess, client: httpx.Client
) -> None:
    slow = [SlowClient(timed.port, pause=0.25) for _ in range(20)]
    for one in slow:
        one.start()
    served = 0
    deadline = time.monotonic() + 30
    while any(one.is_alive() for one in slow):
        assert time.monotonic() < deadline, "slow clients were never cut off"
        assert client.get("/health").status_code == 200
        served += 1
    assert served > 0
    for one in slow:
        assert one.closed_after is not None and one.lines_sent > 1
        assert HEADER_TIMEOUT - 0.5 < one.closed_after < HEADER_TIMEOUT + 10


def test_a_silent_connection_gets_408_then_closes(timed: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", timed.port), timeout=10) as sock:
        started = time.monotonic()
        reply = read_until_closed(sock, started + HEADER_TIMEOUT + 10)
        assert time.monotonic() - started >= HEADER_TIMEOUT - 0.5
    assert reply.startswith(b"HTTP/1.1 408 ")
    body = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "header_timeout"


def test_an_idle_keepalive_connection_is_closed(timed: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", timed.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        reply = read_until_closed(sock, started + KEEPALIVE_TIMEOUT + 10)
        assert time.monotonic() - started >= KEEPALIVE_TIMEOUT - 0.5
    assert reply.startswith(b"HTTP/1.1 200 ") and reply.count(b"HTTP/1.1") == 1


def stalled_request(port: int, head: str, body_part: bytes) -> bytes:
    """Send the headers and part of the body, then nothing: what does the server answer?"""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode() + body_part)
        return read_until_closed(sock, time.monotonic() + BODY_TIMEOUT + 15)


def test_a_stalled_chunk_gets_408_and_does_not_count(
    timed: ServerProcess, client: httpx.Client
) -> None:
    data = hashlib.sha256(b"stall").digest() * 128  # 4 KiB, one chunk
    body = {"hash": md5_hex(data), "fileName": "s.bin", "fileSize": len(data)}
    task = client.post("/api/task", json=body).json()
    head = (
        f"PUT /api/task/{task['id']}/chunk/0 HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    reply = stalled_request(timed.port, head, data[:1000])
    assert reply.startswith(b"HTTP/1.1 408 "), reply
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "body_timeout"
    assert client.get(f"/api/task/{task['id']}").json()["receivedChunks"] == []
    resent = client.put(
        f"/api/task/{task['id']}/chunk/0",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert resent.json()["done"] and client.get(resent.json()["fileUrl"]).content == data


def test_a_stalled_tus_patch_keeps_what_arrived(timed: ServerProcess, client: httpx.Client) -> None:
    data = bytes(range(256)) * 16
    url = create(client, {"Upload-Length": str(len(data))})
    path = url.split(str(client.base_url), 1)[1]
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    reply = stalled_request(timed.port, head, data[:1000])
    assert reply.startswith(b"HTTP/1.1 408 "), reply
    offset = int(client.head(url, headers=TUS).headers["Upload-Offset"])
    assert offset == 1000
    rest = client.patch(url, headers=OCTETS | {"Upload-Offset": "1000"}, content=data[1000:])
    assert rest.status_code == 204 and client.get(url).content == data


def test_connections_beyond_the_cap_get_503(tmp_path_factory: pytest.TempPathFactory) -> None:
    data = tmp_path_factory.mktemp("cap") / "data"
    proc = ServerProcess(data, "--max-connections", "3", "--header-timeout", "30").start()
    try:
        idle = [socket.create_connection(("127.0.0.1", proc.port)) for _ in range(3)]
        with httpx.Client(base_url=proc.url, timeout=30) as fresh:
            assert fresh.get("/health").status_code == 503
        for sock in idle:
            sock.close()
        deadline = time.monotonic() + 20
        while True:  # the server notices the closed sockets on its own schedule
            with httpx.Client(base_url=proc.url, timeout=30) as fresh:
                if fresh.get("/health").status_code == 200:
                    break
            assert time.monotonic() < deadline, "the cap never freed up"
    finally:
        proc.stop()
