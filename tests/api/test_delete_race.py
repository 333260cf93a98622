"""A DELETE that lands while a chunk is still arriving: the chunk request gets 404 (never a
500), and no byte of that upload stays behind in the data directory."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from tests.api.tus_cases import OCTETS, TUS, create
from tests.server_process import ServerProcess
from tests.taskflow import md5_hex

SIZE = 64 * 1024


class HeldBody:
    """A request body sent in two halves; the second waits until `release()`."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.first_sent = threading.Event()
        self.go = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        half = len(self.data) // 2
        yield self.data[:half]
        self.first_sent.set()
        self.go.wait(60)
        yield self.data[half:]

    def release(self) -> None:
        self.go.set()


def send_in_background(call: Callable[[], httpx.Response]) -> tuple[threading.Thread, list[object]]:
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    return thread, result


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"


def leftovers(data_dir: Path, upload_id: str) -> list[Path]:
    return [p for p in data_dir.rglob("*") if upload_id in p.name]


def test_delete_during_a_chunk_put(server: ServerProcess, client: httpx.Client) -> None:
    data = hashlib.sha256(b"race").digest() * (SIZE // 32)
    body = {"hash": md5_hex(data), "fileName": "r.bin", "fileSize": SIZE, "chunkSize": SIZE}
    task = client.post("/api/task", json=body).json()
    url = f"/api/task/{task['id']}/chunk/0"
    held = HeldBody(data)
    octets = {"Content-Type": "application/octet-stream"}
    thread, result = send_in_background(
        lambda: client.put(url, content=iter(held), headers=octets | {"Content-Length": str(SIZE)})
    )
    assert held.first_sent.wait(30)

    def chunk_in_flight() -> bool:  # a probe that cannot count: its checksum is wrong
        probe = client.put(
            url, content=bytes(SIZE), headers=octets | {"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="}
        )
        return probe.status_code == 409 and "already being uploaded" in probe.text

    wait_for(chunk_in_flight, "the held chunk is being received")
    assert client.delete(f"/api/task/{task['id']}").status_code == 204
    held.release()
    thread.join(60)
    reply = result[0]
    assert isinstance(reply, httpx.Response)
    assert reply.status_code in (404, 410), reply.text
    assert reply.json()["error"]["code"] in ("not_found", "gone")
    assert leftovers(server.data_dir, task["id"]) == []
    assert client.get(f"/api/task/{task['id']}").status_code == 404


def test_delete_during_a_tus_patch(server: ServerProcess, client: httpx.Client) -> None:
    data = hashlib.sha256(b"tus race").digest() * (SIZE // 32)
    location = create(client, {"Upload-Length": str(SIZE)})
    upload_id = location.rsplit("/", 1)[1]
    held = HeldBody(data)
    headers = OCTETS | {"Upload-Offset": "0", "Content-Length": str(SIZE)}
    thread, result = send_in_background(
        lambda: client.patch(location, content=iter(held), headers=headers)
    )
    assert held.first_sent.wait(30)

    def patch_in_flight() -> bool:
        probe = client.patch(location, content=b"", headers=OCTETS | {"Upload-Offset": "0"})
        return probe.status_code == 423

    wait_for(patch_in_flight, "the held PATCH is being received")
    assert client.delete(location, headers=TUS).status_code == 204
    held.release()
    thread.join(60)
    reply = result[0]
    assert isinstance(reply, httpx.Response)
    assert reply.status_code in (404, 410), reply.text
    assert leftovers(server.data_dir, upload_id) == []
