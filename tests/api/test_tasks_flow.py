"""The original flow end to end against a real server process: hash, create, slice, upload,
merge, verify; resume after a client stops and after the server is SIGKILLed."""

from __future__ import annotations

import random
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.server_process import ServerProcess
from tests.taskflow import bytes_received, chunk_of, create, md5_hex, put_chunk, random_bytes
from tests.waiting import wait_for

CHUNK = 64 * 1024


def test_parallel_out_of_order_upload_completes_and_verifies(client: httpx.Client) -> None:
    data = random_bytes(20 * CHUNK + 1234)
    created = create(client, data, CHUNK, name="report final.pdf")
    assert created.status_code == 201
    task = created.json()
    assert task["chunkCount"] == 21 and task["currentChunk"] == 0 and not task["done"]
    order = list(range(task["chunkCount"]))
    random.Random(7).shuffle(order)
    with httpx.Client(base_url=str(client.base_url), timeout=30) as other:
        with ThreadPoolExecutor(4) as pool:
            replies = list(
                pool.map(lambda i: put_chunk(other, task, i, chunk_of(data, task, i)), order)
            )
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    assert any(r.json()["done"] for r in replies)  # the reply to the last missing chunk
    final = client.get(f"/api/task/{task['id']}").json()
    assert final["done"] and final["state"] == "complete"
    assert final["receivedChunks"] == list(range(21)) and final["uploadedBytes"] == len(data)
    download = client.get(final["fileUrl"])
    assert download.status_code == 200 and download.content == data
    assert md5_hex(download.content) == final["hash"]


def test_client_that_stops_halfway_resumes_with_only_missing_chunks(
    client: httpx.Client,
) -> None:
    data = random_bytes(10 * CHUNK)
    task = create(client, data, CHUNK).json()
    for index in (0, 1, 2, 5, 6):
        assert put_chunk(client, task, index, chunk_of(data, task, index)).status_code == 200
    resumed = create(client, data, CHUNK)  # the client comes back with the same file
    assert resumed.status_code == 200
    again = resumed.json()
    assert again["id"] == task["id"]
    assert again["receivedChunks"] == [0, 1, 2, 5, 6] and again["currentChunk"] == 3
    before = bytes_received(client)
    missing = [i for i in range(again["chunkCount"]) if i not in again["receivedChunks"]]
    for index in missing:
        reply = put_chunk(client, again, index, chunk_of(data, again, index))
    assert reply.json()["done"]
    assert bytes_received(client) - before == len(missing) * CHUNK
    assert client.get(reply.json()["fileUrl"]).content == data


def test_sigkill_at_any_moment_loses_no_acknowledged_chunk(server: ServerProcess) -> None:
    data = random_bytes(48 * CHUNK)
    acknowledged: set[int] = set()
    with httpx.Client(base_url=server.url, timeout=10) as http:
        task = create(http, data, CHUNK).json()

        def send(index: int) -> None:
            try:
                with httpx.Client(base_url=server.url, timeout=10) as own:
                    if put_chunk(own, task, index, chunk_of(data, task, index)).status_code == 200:
                        acknowledged.add(index)
            except httpx.TransportError:
                pass  # the server died under this request: it was never acknowledged

        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(send, i) for i in range(task["chunkCount"])]
            try:  # the kill must come after acknowledgements, or the check below proves nothing
                wait_for(lambda: len(acknowledged) >= 12, "12 acknowledged chunks")
            finally:
                server.kill()
            assert len(acknowledged) >= 12
            for future in futures:
                future.result()
    server.start()
    with httpx.Client(base_url=server.url, timeout=10) as http:
        after = http.get(f"/api/task/{task['id']}").json()
        assert acknowledged <= set(after["receivedChunks"])
        assert not after["done"]
        for index in range(after["chunkCount"]):
            if index not in after["receivedChunks"]:
                last = put_chunk(http, after, index, chunk_of(data, after, index))
                assert last.status_code == 200, last.text
        done = http.post(f"/api/task/{task['id']}/complete").json()
        assert done["done"]
        assert http.get(done["fileUrl"]).content == data


def test_server_restart_between_chunks_keeps_state(server: ServerProcess) -> None:
    data = random_bytes(6 * CHUNK + 10)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        task = create(http, data, CHUNK).json()
        for index in (4, 0, 1):
            put_chunk(http, task, index, chunk_of(data, task, index))
    server.restart()
    with httpx.Client(base_url=server.url, timeout=10) as http:
        resumed = create(http, data, CHUNK)
        assert resumed.status_code == 200 and resumed.json()["receivedChunks"] == [0, 1, 4]
        for index in (2, 3, 5, 6):
            reply = put_chunk(http, task, index, chunk_of(data, task, index))
        assert reply.json()["done"]
        assert http.get(reply.json()["fileUrl"]).content == data


def test_request_cut_midway_never_counts(client: httpx.Client, server: ServerProcess) -> None:
    big = 2 * 1024 * 1024  # larger than the server's write block: a cut body reaches the disk
    data = random_bytes(4 * big)
    task = create(client, data, big).json()
    assert put_chunk(client, task, 1, chunk_of(data, task, 1)).status_code == 200
    cut_before = client.get("/health").json()["counters"]["bodies_cut"]
    for index in (0, 1):  # a new chunk, and a re-send over an acknowledged one
        with socket.create_connection(("127.0.0.1", server.port)) as raw:
            raw.sendall(
                f"PUT /api/task/{task['id']}/chunk/{index} HTTP/1.1\r\nHost: x\r\n"
                "Content-Type: application/octet-stream\r\n"
                f"Content-Length: {big}\r\n\r\n".encode()
                + b"\xff" * (big - 4096)
            )
    wait_for(  # the server is done with both cut bodies: whatever it kept, it kept by now
        lambda: client.get("/health").json()["counters"]["bodies_cut"] == cut_before + 2,
        "the server to finish both cut requests",
    )
    state = client.get(f"/api/task/{task['id']}").json()
    assert state["receivedChunks"] == [1]
    for index in (0, 2, 3):
        reply = put_chunk(client, task, index, chunk_of(data, task, index))
    assert reply.json()["done"]  # chunk 1 was not damaged by the cut re-send
    assert client.get(reply.json()["fileUrl"]).content == data


def test_resent_chunk_replaces_the_earlier_one(client: httpx.Client) -> None:
    data = random_bytes(3 * CHUNK)
    task = create(client, data, CHUNK).json()
    assert put_chunk(client, task, 0, b"\x00" * CHUNK).status_code == 200  # wrong bytes
    assert put_chunk(client, task, 0, chunk_of(data, task, 0)).status_code == 200  # fixed
    for index in (1, 2):
        reply = put_chunk(client, task, index, chunk_of(data, task, index))
    assert reply.status_code == 200 and reply.json()["done"]
    assert client.get(reply.json()["fileUrl"]).content == data


def test_multipart_form_data_chunks(client: httpx.Client) -> None:
    data = random_bytes(3 * CHUNK - 5)
    task = create(client, data, CHUNK).json()
    for index in range(3):
        reply = client.put(
            f"/api/task/{task['id']}/chunk/{index}",
            data={"note": "browser FormData"},
            files={"chunk": ("blob", chunk_of(data, task, index), "application/octet-stream")},
        )
        assert reply.status_code == 200, reply.text
    assert reply.json()["done"]
    assert client.get(reply.json()["fileUrl"]).content == data


def test_instant_upload_shares_bytes_and_survives_deleting_the_original(
    client: httpx.Client, server: ServerProcess
) -> None:
    data = random_bytes(2 * CHUNK + 3)
    first = create(client, data, CHUNK).json()
    for index in range(first["chunkCount"]):
        put_chunk(client, first, index, chunk_of(data, first, index))
    before = bytes_received(client)
    second = create(client, data, CHUNK, name="copy.bin")
    assert second.status_code == 201
    twin = second.json()
    assert twin["done"] and twin["instant"] and twin["id"] != first["id"]
    assert bytes_received(client) == before  # not a byte sent
    assert client.delete(f"/api/task/{first['id']}").status_code == 204
    assert client.get(f"/api/task/{first['id']}").status_code == 404
    download = client.get(twin["fileUrl"])
    assert download.status_code == 200 and download.content == data
    assert "copy.bin" in download.headers["content-disposition"]


def test_sha256_tasks(client: httpx.Client) -> None:
    import hashlib

    data = random_bytes(3 * CHUNK)
    body = {
        "hash": hashlib.sha256(data).hexdigest(),
        "hashAlgorithm": "sha256",
        "fileName": "s.bin",
        "fileSize": len(data),
        "chunkSize": CHUNK,
    }
    task = client.post("/api/task", json=body).json()
    assert task["hashAlgorithm"] == "sha256"
    for index in range(3):
        reply = put_chunk(client, task, index, chunk_of(data, task, index))
    assert reply.json()["done"] and reply.json()["hash"] == body["hash"]


def test_empty_file_is_done_at_creation(client: httpx.Client) -> None:
    reply = create(client, b"", CHUNK)
    assert reply.status_code == 201 and reply.json()["done"] and reply.json()["chunkCount"] == 0
    assert client.get(reply.json()["fileUrl"]).content == b""


def test_data_lives_under_ids_never_client_names(client: httpx.Client, tmp_path: Path) -> None:
    data = random_bytes(CHUNK)
    task = create(client, data, CHUNK, name="../../etc/passwd").json()
    reply = put_chunk(client, task, 0, data)
    assert reply.json()["done"]
    names = [p.name for p in (tmp_path / "data").rglob("*")]
    assert not any("passwd" in name for name in names)
    assert task["id"] in names and task["id"] != task["hash"] and len(task["id"]) >= 22
    disposition = client.get(reply.json()["fileUrl"]).headers["content-disposition"]
    assert "/" not in disposition.split("filename=")[1].split(";")[0]


def test_list_shows_progress_newest_first(client: httpx.Client) -> None:
    first, second = random_bytes(3 * CHUNK), random_bytes(2 * CHUNK)
    older = create(client, first, CHUNK).json()
    put_chunk(client, older, 1, chunk_of(first, older, 1))
    newer = create(client, second, CHUNK).json()
    listed = client.get("/api/tasks", params={"limit": 10}).json()["tasks"]
    assert [t["id"] for t in listed] == [newer["id"], older["id"]]
    assert listed[1]["receivedChunks"] == [1] and listed[1]["uploadedBytes"] == CHUNK
    assert client.get("/api/tasks", params={"limit": 0}).status_code == 400


def test_the_list_reads_past_tus_partials_to_fill_a_page_and_shows_them_when_asked(
    client: httpx.Client,
) -> None:
    """Pieces of a parallel tus upload are not files of their own: a page skips them and reads
    on, page after page, until it is full; `partial=true` lists them too."""
    piece = {"Tus-Resumable": "1.0.0", "Upload-Length": "4", "Upload-Concat": "partial"}
    older = [create(client, random_bytes(CHUNK), CHUNK).json()["id"] for _ in range(2)]
    pieces = [client.post("/files/", headers=piece).headers["Location"] for _ in range(3)]
    newest = create(client, random_bytes(CHUNK), CHUNK).json()["id"]
    listed = client.get("/api/tasks", params={"limit": 3}).json()["tasks"]
    assert [t["id"] for t in listed] == [newest, older[1], older[0]]
    with_pieces = client.get("/api/tasks", params={"limit": 3, "partial": "true"}).json()
    assert [t["id"] for t in with_pieces["tasks"]] == [newest] + [
        url.rsplit("/", 1)[1] for url in pieces[:0:-1]
    ]
