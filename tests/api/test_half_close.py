"""A client that half-closes (FIN) in the middle of a body: what arrived is kept at once.

uvicorn drops the body it has buffered when the connection goes; the server must hand those
bytes to the upload all the same (upslice.httpserver.KeepBodyCycle). A raw socket is the only
way to send part of a body and then a FIN: every HTTP client insists on the whole body.
"""

from __future__ import annotations

import hashlib
import socket

import httpx

from tests.api.tus_cases import OCTETS, TUS
from tests.server_process import ServerProcess
from tests.taskflow import chunk_of, create, put_chunk
from tests.waiting import wait_for

DATA = hashlib.sha256(b"half-close").digest() * 2048  # 64 KiB
OTHER = DATA[::-1]  # a file of its own: the same bytes would complete at once, deduplicated
SENT = 40_000  # under uvicorn's 64 KiB read-ahead, so all of it waits in its buffer


def send_part_then_fin(server: ServerProcess, head: str, data: bytes = DATA) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(head.encode() + data[:SENT])
        raw.shutdown(socket.SHUT_WR)  # FIN: nothing more comes, the bytes sent stand
        raw.recv(65536)  # the server answers or closes; either way the request is over


def bodies_cut(client: httpx.Client) -> int:
    count: int = client.get("/health").json()["counters"]["bodies_cut"]
    return count


def tus_offset(client: httpx.Client, url: str) -> int:
    return int(client.head(url, headers=TUS).headers["Upload-Offset"])


def test_a_tus_patch_cut_by_a_fin_keeps_what_arrived(
    module_server: ServerProcess, module_client: httpx.Client
) -> None:
    created = module_client.post("/files/", headers={**TUS, "Upload-Length": str(len(DATA))})
    url = created.headers["Location"]
    path = httpx.URL(url).path
    send_part_then_fin(
        module_server,
        f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
        "Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {len(DATA)}\r\n\r\n",
    )
    wait_for(lambda: tus_offset(module_client, url) == SENT, f"offset {SENT} after the FIN", 10)
    replies: list[httpx.Response] = []

    def send_the_rest() -> bool:
        """The offset is saved before the cut request lets go of the upload's lock: a PATCH
        meanwhile waits for it (up to 2 s; after that it is refused with 423 and stores
        nothing, which tus clients retry)."""
        headers = {**OCTETS, "Upload-Offset": str(SENT)}
        replies.append(module_client.patch(url, content=DATA[SENT:], headers=headers))
        return replies[-1].status_code != 423

    wait_for(send_the_rest, "the cut PATCH to let go of the upload", 10)
    rest = replies[-1]
    assert rest.status_code == 204 and rest.headers["Upload-Offset"] == str(len(DATA))
    assert module_client.get(url).content == DATA


def test_a_task_chunk_cut_by_a_fin_is_not_acknowledged_and_resends_at_once(
    module_server: ServerProcess, module_client: httpx.Client
) -> None:
    task = create(module_client, OTHER, 48 * 1024).json()  # chunk 0 is longer than SENT
    chunk = chunk_of(OTHER, task, 0)
    cut_before = bodies_cut(module_client)
    send_part_then_fin(
        module_server,
        f"PUT /api/task/{task['id']}/chunk/0 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {len(chunk)}\r\n\r\n",
        OTHER,
    )
    # A chunk is all or nothing: the part that came is not acknowledged as the chunk, and the
    # cut request lets go of the chunk at once, so the resend is not refused as busy.
    wait_for(lambda: bodies_cut(module_client) == cut_before + 1, "the cut chunk's end", 10)
    status = module_client.get(f"/api/task/{task['id']}").json()
    assert status["receivedChunks"] == [] and status["uploadedBytes"] == 0
    for index in (0, 1):
        sent = put_chunk(module_client, task, index, chunk_of(OTHER, task, index))
        assert sent.status_code == 200, sent.text
    assert sent.json()["done"] is True
    assert module_client.get(sent.json()["fileUrl"]).content == OTHER
