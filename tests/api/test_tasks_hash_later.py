"""Tasks created before their hash is known: chunks at once, the hash declared later.

`PUT /api/task/{id}/hash` may finish the task on the spot (every chunk in, or an instant
upload of the caller's own file); across owners it reveals nothing and only a proof of
possession makes the task instant.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from pathlib import Path
from typing import Any

import google_crc32c
import httpx
import pytest

from tests.api.test_proof import proof
from tests.host_app import HostApp
from tests.server_process import ServerProcess
from tests.taskflow import chunk_of, create, md5_hex, put_chunk, random_bytes

CHUNK = 64 * 1024
SIZE = 5 * CHUNK + 123  # over 256 KiB: a challenge of 4 random ranges


def create_pending(http: httpx.Client, data: bytes, name: str = "late.bin") -> dict[str, Any]:
    reply = http.post(
        "/api/task", json={"fileName": name, "fileSize": len(data), "chunkSize": CHUNK}
    )
    assert reply.status_code == 201, reply.text
    task: dict[str, Any] = reply.json()
    return task


def put_crc(
    http: httpx.Client, task: dict[str, Any], index: int, data: bytes, kind: str = "crc32"
) -> httpx.Response:
    body = chunk_of(data, task, index)
    value = zlib.crc32(body) if kind == "crc32" else google_crc32c.value(body)
    crc = base64.b64encode(value.to_bytes(4, "big")).decode()
    return put_chunk(
        http, task, index, body, checksum=False, headers={"Upload-Checksum": f"{kind} {crc}"}
    )


def declare(http: httpx.Client, task: dict[str, Any], digest: str, **extra: Any) -> httpx.Response:
    return http.put(f"/api/task/{task['id']}/hash", json={"hash": digest, **extra})


def test_all_chunks_in_waits_for_the_hash_then_completes_at_once(client: httpx.Client) -> None:
    data = random_bytes(SIZE)
    task = create_pending(client, data)
    assert task["hash"] is None and task["hashPending"] is True
    assert task["hashAlgorithm"] == "md5" and not task["done"] and task["challenge"]
    for index in range(task["chunkCount"]):  # both CRCs: crc32c is the server's own
        reply = put_crc(client, task, index, data, "crc32c" if index % 2 else "crc32")
        assert reply.status_code == 200, reply.text
    last = reply.json()
    assert not last["done"] and last["state"] == "receiving" and last["hashPending"]
    assert last["currentChunk"] == last["chunkCount"] and last["uploadedBytes"] == SIZE

    refused = client.post(f"/api/task/{task['id']}/complete")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "hash_missing"

    done = declare(client, task, md5_hex(data).upper())
    assert done.status_code == 200, done.text
    finished = done.json()
    assert finished["done"] and not finished["instant"] and not finished["hashPending"]
    assert finished["hash"] == md5_hex(data)
    assert client.get(finished["fileUrl"]).content == data
    again = declare(client, task, md5_hex(data))  # the same hash once more: a no-op
    assert again.status_code == 200 and again.json()["done"]
    assert declare(client, task, "0" * 32).status_code == 409


def test_hash_declared_midway_lets_the_last_chunk_complete(client: httpx.Client) -> None:
    data = random_bytes(SIZE)
    task = create_pending(client, data)
    put_crc(client, task, 0, data)
    declared = declare(client, task, md5_hex(data))
    assert declared.status_code == 200, declared.text
    body = declared.json()
    assert body["hash"] == md5_hex(data) and not body["hashPending"] and not body["done"]
    assert body["challenge"]  # a fresh one, as after every create or proof
    assert declare(client, task, md5_hex(data)).status_code == 200
    conflict = declare(client, task, md5_hex(b"other"))
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "conflict"
    for index in range(1, task["chunkCount"]):
        reply = put_crc(client, task, index, data)
    assert reply.json()["done"], reply.text
    assert client.get(reply.json()["fileUrl"]).content == data


def test_a_wrong_hash_fails_the_task_as_completion_does(client: httpx.Client) -> None:
    data = random_bytes(SIZE)
    task = create_pending(client, data)
    for index in range(task["chunkCount"]):
        put_crc(client, task, index, data)
    wrong = declare(client, task, md5_hex(data + b"!"))
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "hash_mismatch"
    assert client.get(f"/api/task/{task['id']}").json()["state"] == "failed"


def test_algorithm_must_be_the_tasks(client: httpx.Client) -> None:
    data = random_bytes(2 * CHUNK)
    reply = client.post(
        "/api/task",
        json={"fileName": "s.bin", "fileSize": len(data), "hashAlgorithm": "sha256"},
    )
    task = reply.json()
    assert reply.status_code == 201 and task["hashAlgorithm"] == "sha256" and task["hashPending"]
    md5 = declare(client, task, md5_hex(data), hashAlgorithm="md5")
    assert md5.status_code == 409 and md5.json()["error"]["message"]
    sha = declare(client, task, hashlib.sha256(data).hexdigest(), hashAlgorithm="sha256")
    assert sha.status_code == 200 and sha.json()["hash"] == hashlib.sha256(data).hexdigest()


def test_an_empty_file_without_hash_is_done_at_once(client: httpx.Client) -> None:
    reply = client.post("/api/task", json={"fileName": "empty", "fileSize": 0})
    assert reply.status_code == 201 and reply.json()["done"]
    assert reply.json()["hash"] == md5_hex(b"")


def test_instant_upload_takes_over_midway_for_the_same_owner(client: httpx.Client) -> None:
    data = random_bytes(SIZE)
    first = create(client, data, CHUNK).json()
    for index in range(first["chunkCount"]):
        put_chunk(client, first, index, chunk_of(data, first, index))
    task = create_pending(client, data, "copy.bin")
    put_crc(client, task, 0, data)
    put_crc(client, task, 3, data)
    taken = declare(client, task, md5_hex(data))
    assert taken.status_code == 200, taken.text
    body = taken.json()
    assert body["done"] and body["instant"] and body["uploadedBytes"] == SIZE
    assert body["id"] == task["id"] and body["fileName"] == "copy.bin"
    assert client.get(body["fileUrl"]).content == data
    late = put_crc(client, task, 1, data)  # a chunk still under way: refused, nothing broken
    assert late.status_code == 409
    assert client.get(body["fileUrl"]).content == data


def test_across_owners_declaring_reveals_nothing_and_proof_still_works(host: HostApp) -> None:
    data = random_bytes(SIZE)
    with host.client("alice") as alice, host.client("bob") as bob, host.client("carol") as carol:
        original = create(alice, data, CHUNK).json()
        for index in range(original["chunkCount"]):
            put_chunk(alice, original, index, chunk_of(data, original, index))
        task = create_pending(bob, data)
        put_crc(bob, task, 0, data)
        held = declare(bob, task, md5_hex(data))
        assert held.status_code == 200, held.text
        other = random_bytes(SIZE)
        unknown = create_pending(carol, other)
        put_crc(carol, unknown, 0, other)
        miss = declare(carol, unknown, md5_hex(other))
        keys = ("done", "instant", "state", "uploadedBytes", "fileUrl")
        assert {k: held.json()[k] for k in keys} == {k: miss.json()[k] for k in keys}
        assert set(held.json()) == set(miss.json())
        assert bob.get(f"/api/task/{original['id']}/file").status_code == 404
        assert bob.get(f"/api/task/{task['id']}/file").status_code == 409

        challenge = held.json()["challenge"]
        proved = bob.post(f"/api/task/{task['id']}/proof", json={"proof": proof(data, challenge)})
        assert proved.status_code == 200 and proved.json()["done"] and proved.json()["instant"]
        assert bob.get(proved.json()["fileUrl"]).content == data


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_workers_and_a_restart_share_the_pending_hash(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    """Everything lives in the MetaStore: any worker, or the next process, carries on."""
    args = ["--min-chunk-size", "1024"]
    if backend == "postgresql":
        args += ["--database-url", request.getfixturevalue("postgres_dsn")]
    server = ServerProcess(tmp_path / "data", *args, workers=2).start()
    try:
        data = random_bytes(SIZE)
        with httpx.Client(base_url=server.url, timeout=30) as http:
            task = create_pending(http, data)
            for index in range(task["chunkCount"]):
                assert put_crc(http, task, index, data).status_code == 200
        server.restart()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            pending = http.get(f"/api/task/{task['id']}").json()
            assert pending["hashPending"] and pending["uploadedBytes"] == SIZE
            done = declare(http, task, md5_hex(data))
            assert done.status_code == 200 and done.json()["done"], done.text
            assert http.get(done.json()["fileUrl"]).content == data
    finally:
        server.stop()


def test_openapi_documents_the_hash_later_flow(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    declare_op = spec["paths"]["/api/task/{task_id}/hash"]["put"]
    assert declare_op["operationId"] == "declareTaskHash"
    assert "instant" in declare_op["description"] and "409" in declare_op["description"]
    create_schema = spec["components"]["schemas"]["TaskCreate"]
    assert "hash" not in create_schema.get("required", [])
    assert "hashPending" in spec["components"]["schemas"]["Task"]["properties"]
    chunk_op = spec["paths"]["/api/task/{task_id}/chunk/{index}"]["put"]
    checksum = next(p for p in chunk_op["parameters"] if p["name"] == "Upload-Checksum")
    assert "crc32" in checksum["description"] and "crc32c" in checksum["description"]


def test_tus_finishing_the_bytes_of_a_pending_task_leaves_it_waiting(client: httpx.Client) -> None:
    """Either front end serves any upload: a tus PATCH with the last bytes is accepted, and
    the task still completes only once its hash is declared."""
    data = random_bytes(SIZE)
    task = create_pending(client, data)
    last = task["chunkCount"] - 1
    for index in range(last):
        put_crc(client, task, index, data)
    start = last * CHUNK
    patched = client.patch(
        f"/files/{task['id']}",
        content=data[start:],
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": str(start),
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert patched.status_code == 204, patched.text
    waiting = client.get(f"/api/task/{task['id']}").json()
    assert waiting["hashPending"] and not waiting["done"] and waiting["uploadedBytes"] == SIZE
    done = declare(client, task, md5_hex(data))
    assert done.status_code == 200 and done.json()["done"]
    assert client.get(done.json()["fileUrl"]).content == data
