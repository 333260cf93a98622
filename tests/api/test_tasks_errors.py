"""Every error status of the tasks API, as a table, plus the integrity failures."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import google_crc32c
import httpx
import pytest

from tests.server_process import ServerProcess
from tests.taskflow import chunk_of, create, md5_hex, put_chunk, random_bytes

CHUNK = 16 * 1024
DATA = random_bytes(3 * CHUNK + 100, seed=11)


@dataclass
class Case:
    name: str
    method: str
    path: str  # {id} is a fresh task for DATA
    status: int
    code: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[httpx.Client, dict[str, Any]], None] | None = None


def valid_task(**changes: Any) -> dict[str, Any]:
    body = {"hash": md5_hex(DATA), "fileName": "a.bin", "fileSize": len(DATA)}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def b64crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def b64crc32c(data: bytes) -> str:
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


def upload_all(client: httpx.Client, task: dict[str, Any]) -> None:
    for index in range(task["chunkCount"]):
        put_chunk(client, task, index, chunk_of(DATA, task, index))


CASES = [
    Case(
        "md5 length for sha256", "POST", "/api/task", 400, "invalid_input",
        json=valid_task(hashAlgorithm="sha256"),
    ),
    Case("hash not hex", "POST", "/api/task", 400, "invalid_input", json=valid_task(hash="z" * 32)),
    Case("short md5", "POST", "/api/task", 400, "invalid_input", json=valid_task(hash="ab")),
    Case(
        "unknown algorithm", "POST", "/api/task", 400, "invalid_input",
        json=valid_task(hashAlgorithm="crc32"),
    ),
    Case("negative size", "POST", "/api/task", 400, "invalid_input", json=valid_task(fileSize=-1)),
    Case("empty name", "POST", "/api/task", 400, "invalid_input", json=valid_task(fileName="")),
    Case("unknown field", "POST", "/api/task", 400, "invalid_input", json=valid_task(colour=1)),
    Case(
        "huge metadata", "POST", "/api/task", 400, "invalid_input",
        json=valid_task(metadata={"notes": "x" * 20_000}),
    ),
    Case(
        "not json", "POST", "/api/task", 400, "invalid_input",
        content=b"{", headers={"Content-Type": "application/json"},
    ),
    Case("too large", "POST", "/api/task", 413, "too_large", json=valid_task(fileSize=2**60)),
    Case("unknown task", "GET", "/api/task/nope", 404, "not_found"),
    Case("chunk of unknown task", "PUT", "/api/task/nope/chunk/0", 404, "not_found", content=b"x"),
    Case("delete unknown task", "DELETE", "/api/task/nope", 404, "not_found"),
    Case("complete unknown task", "POST", "/api/task/nope/complete", 404, "not_found"),
    Case("file of unknown task", "GET", "/api/task/nope/file", 404, "not_found"),
    Case(
        "index past the end", "PUT", "/api/task/{id}/chunk/4", 409, "wrong_chunk",
        content=b"x" * 100,
    ),
    Case("negative index", "PUT", "/api/task/{id}/chunk/-1", 400, "invalid_input", content=b"x"),
    Case("chunk too short", "PUT", "/api/task/{id}/chunk/0", 409, "wrong_chunk", content=b"x" * 10),
    Case("chunk too long", "PUT", "/api/task/{id}/chunk/3", 409, "wrong_chunk", content=b"x" * 101),
    Case(
        "json body for a chunk", "PUT", "/api/task/{id}/chunk/0", 415, "unsupported_media_type",
        content=b"{}", headers={"Content-Type": "application/json"},
    ),
    Case(
        "malformed multipart", "PUT", "/api/task/{id}/chunk/3", 400, "invalid_input",
        content=b"--xyz\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    ),
    Case(
        "multipart without the boundary", "PUT", "/api/task/{id}/chunk/3", 400, "invalid_input",
        content=b"garbage", headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    ),
    Case(
        "checksum not base64", "PUT", "/api/task/{id}/chunk/3", 400, "invalid_input",
        content=b"x" * 100, headers={"Upload-Checksum": "md5 !!!"},
    ),
    Case(
        "checksum algorithm", "PUT", "/api/task/{id}/chunk/3", 400, "invalid_input",
        content=b"x" * 100, headers={"Upload-Checksum": "crc64 AAAAAAAAAAA="},
    ),
    Case(
        "crc32 of 3 bytes", "PUT", "/api/task/{id}/chunk/3", 400, "invalid_input",
        content=b"x" * 100, headers={"Upload-Checksum": "crc32 AAAA"},
    ),
    Case(
        "crc32 checksum mismatch", "PUT", "/api/task/{id}/chunk/3", 422, "checksum_mismatch",
        content=b"x" * 100, headers={"Upload-Checksum": f"crc32 {b64crc32(b'y' * 100)}"},
    ),
    Case(
        "crc32c checksum mismatch", "PUT", "/api/task/{id}/chunk/3", 422, "checksum_mismatch",
        content=b"x" * 100, headers={"Upload-Checksum": f"crc32c {b64crc32c(b'y' * 100)}"},
    ),
    Case(
        "crc32c is not crc32", "PUT", "/api/task/{id}/chunk/3", 422, "checksum_mismatch",
        content=b"x" * 100, headers={"Upload-Checksum": f"crc32c {b64crc32(b'x' * 100)}"},
    ),
    Case(
        "checksum mismatch", "PUT", "/api/task/{id}/chunk/3", 422, "checksum_mismatch",
        content=b"x" * 100, headers={"Upload-Checksum": f"md5 {b64md5(b'y' * 100)}"},
    ),
    Case(
        "content-md5 mismatch", "PUT", "/api/task/{id}/chunk/3", 422, "checksum_mismatch",
        content=b"x" * 100, headers={"Content-MD5": b64md5(b"y" * 100)},
    ),
    Case(
        "sha256 checksum mismatch", "PUT", "/api/task/{id}/chunk/3", 422, "checksum_mismatch",
        content=b"x" * 100,
        headers={"Upload-Checksum": "sha256 " + base64.b64encode(bytes(32)).decode()},
    ),
    Case(
        "declare another hash", "PUT", "/api/task/{id}/hash", 409, "conflict",
        json={"hash": "0" * 32},
    ),
    Case(
        "declare another algorithm", "PUT", "/api/task/{id}/hash", 409, "conflict",
        json={"hash": "0" * 64, "hashAlgorithm": "sha256"},
    ),
    Case(
        "declare a hash not hex", "PUT", "/api/task/{id}/hash", 400, "invalid_input",
        json={"hash": "z" * 32},
    ),
    Case(
        "declare without a hash", "PUT", "/api/task/{id}/hash", 400, "invalid_input",
        json={"hashAlgorithm": "md5"},
    ),
    Case(
        "declare for an unknown task", "PUT", "/api/task/nope/hash", 404, "not_found",
        json={"hash": "0" * 32},
    ),
    Case("complete with missing chunks", "POST", "/api/task/{id}/complete", 409, "missing_chunks"),
    Case("file before done", "GET", "/api/task/{id}/file", 409, "conflict"),
    Case(
        "chunk after done", "PUT", "/api/task/{id}/chunk/0", 409, "conflict",
        content=DATA[:CHUNK], prepare=upload_all,
    ),
]  # fmt: skip


def stored_chunks(server: ServerProcess, task: dict[str, Any]) -> dict[int, bytes]:
    """The bytes on disk of each chunk the task lists as received."""
    found = [server.data_dir / part / task["id"] for part in ("partial", "files")]
    stored = next((p.read_bytes() for p in found if p.exists()), b"")
    size = task["chunkSize"]
    return {i: stored[i * size : (i + 1) * size] for i in task["receivedChunks"]}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_error_table(server: ServerProcess, client: httpx.Client, case: Case) -> None:
    task = create(client, DATA, CHUNK).json()
    if case.prepare:
        case.prepare(client, task)
    before = client.get(f"/api/task/{task['id']}").json()
    headers = {"Content-Type": "application/octet-stream", **case.headers}
    reply = client.request(
        case.method,
        case.path.format(id=task["id"]),
        json=case.json,
        content=case.content,
        headers=headers if case.content is not None else case.headers,
    )
    assert reply.status_code == case.status, reply.text
    error = reply.json()["error"]
    assert error["code"] == case.code and error["message"]
    after = client.get(f"/api/task/{task['id']}")  # nothing was lost, nothing was changed
    assert after.status_code == 200
    assert after.json()["receivedChunks"] == before["receivedChunks"]
    assert stored_chunks(server, after.json()) == {
        i: chunk_of(DATA, task, i) for i in before["receivedChunks"]
    }


def test_missing_chunks_are_listed(client: httpx.Client) -> None:
    task = create(client, DATA, CHUNK).json()
    put_chunk(client, task, 1, chunk_of(DATA, task, 1))
    reply = client.post(f"/api/task/{task['id']}/complete")
    assert reply.status_code == 409
    assert reply.json()["error"]["missingChunks"] == [0, 2, 3]


def test_rejected_chunk_never_counts(client: httpx.Client) -> None:
    task = create(client, DATA, CHUNK).json()
    body = chunk_of(DATA, task, 0)
    bad = client.put(
        f"/api/task/{task['id']}/chunk/0",
        content=body[:-1] + b"?",
        headers={"Content-MD5": b64md5(body), "Content-Type": "application/octet-stream"},
    )
    assert bad.status_code == 422
    assert client.get(f"/api/task/{task['id']}").json()["receivedChunks"] == []


def test_corrupt_resend_does_not_damage_the_acknowledged_chunk(client: httpx.Client) -> None:
    task = create(client, DATA, CHUNK).json()
    body = chunk_of(DATA, task, 0)
    assert put_chunk(client, task, 0, body).status_code == 200
    corrupt = client.put(
        f"/api/task/{task['id']}/chunk/0",
        content=b"\0" * len(body),
        headers={"Content-MD5": b64md5(body), "Content-Type": "application/octet-stream"},
    )
    assert corrupt.status_code == 422
    for index in (1, 2, 3):
        reply = put_chunk(client, task, index, chunk_of(DATA, task, index))
    assert reply.json()["done"]
    assert client.get(reply.json()["fileUrl"]).content == DATA


def test_hash_mismatch_never_yields_a_done_task(client: httpx.Client) -> None:
    liar = create(client, DATA, CHUNK).json()
    wrong = bytearray(DATA)
    wrong[5] ^= 1  # the client sends other bytes than it hashed
    for index in range(liar["chunkCount"]):
        reply = put_chunk(client, liar, index, chunk_of(bytes(wrong), liar, index))
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["code"] == "hash_mismatch" and error["expected"] == md5_hex(DATA)
    assert error["actual"] == md5_hex(bytes(wrong)) and error["resendChunks"] == []
    state = client.get(f"/api/task/{liar['id']}").json()
    assert not state["done"] and state["state"] == "failed" and state["fileUrl"] is None
    assert client.post(f"/api/task/{liar['id']}/complete").status_code == 422
    assert client.get(f"/api/task/{liar['id']}/file").status_code == 409
    fixed = put_chunk(client, liar, 0, chunk_of(DATA, liar, 0))  # resend the bad chunk
    assert fixed.status_code == 200 and fixed.json()["done"]
    assert client.get(fixed.json()["fileUrl"]).content == DATA


def test_bytes_damaged_on_disk_are_named_for_resending(
    server: ServerProcess, tmp_path: Path
) -> None:
    with httpx.Client(base_url=server.url) as client:
        task = create(client, DATA, CHUNK).json()
        for index in (0, 1, 2):
            put_chunk(client, task, index, chunk_of(DATA, task, index))
    server.kill()  # the running hash is lost with the process: completion reads the disk
    partial = tmp_path / "data" / "partial" / task["id"]
    with open(partial, "r+b") as handle:  # bit rot under chunk 1 while the server was down
        handle.seek(CHUNK + 7)
        handle.write(b"\x00\x01")
    server.start()
    with httpx.Client(base_url=server.url) as client:
        reply = put_chunk(client, task, 3, chunk_of(DATA, task, 3))
        assert reply.status_code == 422
        assert reply.json()["error"]["resendChunks"] == [1]
        assert put_chunk(client, task, 1, chunk_of(DATA, task, 1)).json()["done"]
        assert client.get(f"/api/task/{task['id']}/file").content == DATA


def test_full_disk_answers_507_and_keeps_what_was_received(
    client: httpx.Client, tmp_path: Path
) -> None:
    task = create(client, DATA, CHUNK).json()
    assert put_chunk(client, task, 0, chunk_of(DATA, task, 0)).status_code == 200
    partial = tmp_path / "data" / "partial" / task["id"]
    kept = partial.with_suffix(".kept")
    partial.rename(kept)
    os.symlink("/dev/full", partial)  # every write now fails with ENOSPC
    reply = put_chunk(client, task, 1, chunk_of(DATA, task, 1))
    assert reply.status_code == 507 and reply.json()["error"]["code"] == "insufficient_storage"
    partial.unlink()
    kept.rename(partial)  # the disk has room again
    assert client.get(f"/api/task/{task['id']}").json()["receivedChunks"] == [0]
    for index in (1, 2, 3):
        reply = put_chunk(client, task, index, chunk_of(DATA, task, index))
    assert reply.json()["done"] and client.get(reply.json()["fileUrl"]).content == DATA


def test_unknown_route_is_json_404(client: httpx.Client) -> None:
    reply = client.get("/api/nothing-here")
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "not_found"


def test_a_chunk_of_the_wrong_declared_length_is_refused_before_its_body_arrives(
    server: ServerProcess, client: httpx.Client
) -> None:
    """The refusal names the expected size at once; a client need not send a body that
    cannot land (a gigabyte, perhaps) to learn that."""
    data = random_bytes(4096)
    task = create(client, data, chunk_size=1024).json()
    head = (
        f"PUT /api/task/{task['id']}/chunk/0 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: 1025\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as raw:
        raw.sendall(head.encode() + data[:10])  # 1015 bytes still owed: only a refusal answers
        with raw.makefile("rb") as reply:
            status = reply.readline().split()[1]
            lines = iter(reply.readline, b"\r\n")
            headers = dict(line.decode().rstrip().lower().split(": ", 1) for line in lines)
            body = json.loads(reply.read(int(headers["content-length"])))
    assert status == b"409", body
    assert body["error"]["code"] == "wrong_chunk" and body["error"]["expectedSize"] == 1024
    assert client.get(f"/api/task/{task['id']}").json()["receivedChunks"] == []
