"""/flow/ over real HTTP: what resumable.js, flow.js and simple-uploader.js rely on, request by
request (the libraries themselves run in tests/browser/test_flow_family.py).

Runs against upslice mounted in a host app whose users are named by `x-user`, so owner rules
are checked on the same server.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.conftest import SMALL_CHUNKS
from tests.host_app import HostApp
from tests.server_process import ServerProcess
from tests.waiting import wait_for

CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostApp]:
    app = HostApp(tmp_path_factory.mktemp("flow-api")).start()
    yield app
    app.stop()


@pytest.fixture
def http(host: HostApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host.url, timeout=30) as client:
        yield client


def fields(data: bytes, number: int, identifier: str, **changes: Any) -> dict[str, str]:
    """flow.js's parameters for chunk `number` of `data` (default: forceChunkSize false)."""
    total = max(len(data) // CHUNK, 1)
    start = (number - 1) * CHUNK
    end = len(data) if number == total else start + CHUNK
    values = {
        "flowChunkNumber": number,
        "flowChunkSize": CHUNK,
        "flowCurrentChunkSize": end - start,
        "flowTotalSize": len(data),
        "flowIdentifier": identifier,
        "flowFilename": "notes.bin",
        "flowRelativePath": "notes.bin",
        "flowTotalChunks": total,
        **changes,
    }
    return {key: str(value) for key, value in values.items() if value is not None}


def piece(data: bytes, number: int) -> bytes:
    total = max(len(data) // CHUNK, 1)
    return data[(number - 1) * CHUNK : len(data) if number == total else number * CHUNK]


def post(
    http: httpx.Client, data: bytes, number: int, identifier: str, **kw: Any
) -> httpx.Response:
    body = kw.pop("body", None)
    headers = kw.pop("headers", None)
    chunk = piece(data, number) if body is None else body
    return http.post(
        "/flow/",
        data=fields(data, number, identifier, **kw),
        files={"file": ("blob", chunk, "application/octet-stream")},
        headers=headers,
    )


def test_chunks_in_any_order_complete_on_the_last_gap(http: httpx.Client) -> None:
    data = os.urandom(4 * CHUNK - 1)  # 3 chunks: the last one is 2 * CHUNK - 1 bytes
    ident = f"{len(data)}-notes-bin-{os.urandom(4).hex()}"
    assert http.get("/flow/", params=fields(data, 1, ident)).status_code == 204
    for number in (3, 1):
        reply = post(http, data, number, ident)
        assert reply.status_code == 200, reply.text
        assert not reply.json()["done"]
    test = http.get("/flow/", params=fields(data, 3, ident))
    assert test.status_code == 200 and test.json()["uploaded"] == [1, 3]
    assert http.get("/flow/", params=fields(data, 2, ident)).status_code == 204
    last = post(http, data, 2, ident).json()
    assert last["done"] and last["skipUpload"] and last["uploaded"] == [1, 2, 3]
    assert last["hash"] == hashlib.md5(data).hexdigest(), "no finish call: already verified"
    assert http.get(last["fileUrl"]).content == data


def test_raw_chunks_with_parameters_in_the_query(http: httpx.Client) -> None:
    """`method: 'octet'`: the chunk is the body, the parameters are in the URL."""
    data = os.urandom(CHUNK + 100)
    ident = f"octet-{os.urandom(4).hex()}"
    reply = http.post(
        "/flow/",
        params=fields(data, 1, ident),
        content=data,
        headers={"content-type": "application/octet-stream"},
    )
    assert reply.status_code == 200 and reply.json()["done"], reply.text
    assert http.get(reply.json()["fileUrl"]).content == data


def test_a_chunk_checksum_is_verified_and_a_bad_chunk_can_be_sent_again(
    http: httpx.Client,
) -> None:
    data = os.urandom(2 * CHUNK)
    ident = f"sums-{os.urandom(4).hex()}"
    wrong = post(http, data, 1, ident, chunkMd5=hashlib.md5(b"other").hexdigest())
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "checksum_mismatch"
    bad_header = {"Content-MD5": base64.b64encode(hashlib.md5(b"x").digest()).decode()}
    assert post(http, data, 2, ident, headers=bad_header).status_code == 422
    assert http.get("/flow/", params=fields(data, 1, ident)).status_code == 204, "not kept"
    right = post(http, data, 1, ident, chunkMd5=hashlib.md5(piece(data, 1)).hexdigest())
    assert right.status_code == 200
    good_header = {"Content-MD5": base64.b64encode(hashlib.md5(piece(data, 2)).digest()).decode()}
    assert post(http, data, 2, ident, headers=good_header).json()["done"]


def test_an_md5_identifier_is_verified(http: httpx.Client) -> None:
    data = os.urandom(CHUNK)
    ident = hashlib.md5(b"something else").hexdigest()
    reply = post(http, data, 1, ident)
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "hash_mismatch"


def test_instant_for_the_same_owner_only(host: HostApp) -> None:
    data = os.urandom(2 * CHUNK + 5)
    ident = hashlib.sha256(data).hexdigest()
    with host.client("alice") as alice, host.client("bob") as bob:
        for number in (1, 2):
            done = post(alice, data, number, ident).json()
        assert done["done"] and done["hashAlgorithm"] == "sha256"
        again = alice.get("/flow/", params=fields(data, 2, ident))
        assert again.status_code == 200 and again.json()["skipUpload"]
        assert again.json()["id"] == done["id"]
        assert bob.get("/flow/", params=fields(data, 1, ident)).status_code == 204
        received = bob.get("/health").json()["counters"]["bytes_received"]
        theirs = post(bob, data, 1, ident).json()
        assert theirs["id"] != done["id"] and not theirs["done"]
        assert bob.get("/health").json()["counters"]["bytes_received"] - received == CHUNK
        assert bob.get(done["fileUrl"]).status_code == 404, "alice's file stays hers"


@pytest.mark.parametrize("user", [None, "jo"], ids=["anonymous", "an-owner"])
def test_chunks_arriving_together_share_one_record(host: HostApp, user: str | None) -> None:
    """testChunks off and simultaneousUploads: the first chunks create the record at once."""
    data = os.urandom(6 * CHUNK)
    ident = f"together-{os.urandom(4).hex()}"
    with host.client(user) as http, ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda n: post(http, data, n, ident), range(1, 7)))
        assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
        assert len({r.json()["id"] for r in replies}) == 1
        assert sum(r.json()["done"] for r in replies) >= 1
        [done] = [r.json() for r in replies if r.json()["done"]][:1]
        assert http.get(done["fileUrl"]).content == data


DATA = bytes(3 * CHUNK)
BAD = [
    ({"flowIdentifier": None}, 400, "identifier is required"),
    (
        {"flowChunkSize": 100, "flowTotalChunks": None, "flowCurrentChunkSize": None},
        400,
        "outside this server's",
    ),
    ({"flowTotalChunks": 7}, 400, "does not fit"),
    ({"flowChunkNumber": 4}, 400, "beyond totalChunks"),
    ({"flowChunkNumber": "one"}, 400, "must be an integer"),
    ({"flowCurrentChunkSize": 5}, 400, "differs from chunk"),
    ({"chunkMd5": "xyz"}, 400, "32 hex digits"),
]


@pytest.mark.parametrize(("changes", "status", "message"), BAD)
def test_bad_parameters_are_named(
    http: httpx.Client, changes: dict[str, Any], status: int, message: str
) -> None:
    for reply in (
        http.get("/flow/", params=fields(DATA, 1, "bad", **changes)),
        post(http, DATA, 1, "bad", **changes),
    ):
        if reply.request.method == "GET" and "chunkMd5" in changes:
            continue  # a test request carries no chunk to check
        assert reply.status_code == status, reply.text
        assert message in reply.json()["error"]["message"]


def test_malformed_bodies_are_4xx(http: httpx.Client) -> None:
    short = post(http, DATA, 1, "short", body=b"x" * 10)
    assert short.status_code == 409 and short.json()["error"]["code"] == "wrong_chunk"
    cut = http.post(
        "/flow/",
        params=fields(DATA, 1, "cut"),
        content=b'--zz\r\nContent-Disposition: form-data; name="file"; filename="b"\r\n\r\nab',
        headers={"content-type": "multipart/form-data; boundary=zz"},
    )
    assert cut.status_code == 400 and "malformed" in cut.json()["error"]["message"]
    plain = http.post("/flow/", content=b"x", headers={"content-type": "text/plain"})
    assert plain.status_code == 415
    fileless = http.post("/flow/", data=fields(DATA, 1, "nofile"), files={"x": ("", b"")})
    assert fileless.status_code in (400, 409), fileless.text


def test_an_expired_upload_makes_room_for_a_fresh_one(tmp_path: Path) -> None:
    """The record's id is fixed by the identifier: an expired one must not block it."""
    proc = ServerProcess(tmp_path / "data", *SMALL_CHUNKS, "--expiry-seconds", "1").start()
    try:
        with httpx.Client(base_url=proc.url, timeout=30) as http:
            data = os.urandom(2 * CHUNK)
            first = post(http, data, 1, "soon-stale").json()
            deadline = time.monotonic() + 30
            while http.get("/flow/", params=fields(data, 1, "soon-stale")).status_code == 200:
                assert time.monotonic() < deadline, "the upload never expired"
                time.sleep(0.1)  # polling: expiry is a matter of the server's clock
            assert post(http, data, 1, "soon-stale").json()["id"] == first["id"]
            done = post(http, data, 2, "soon-stale").json()
            assert done["done"] and http.get(done["fileUrl"]).content == data
    finally:
        proc.stop()


@pytest.mark.parametrize("user", [None, "erin"])
def test_a_reply_waits_for_the_last_chunk_another_request_is_writing(
    request: pytest.FixtureRequest, user: str | None
) -> None:
    """flow.js takes the reply that arrives last as the file's answer: a chunk whose only
    missing bytes are in flight elsewhere answers once they land, so it says done too. For an
    owner (the mounted app), the chunks in flight are theirs to wait for as well."""
    data = os.urandom(3 * CHUNK)
    ident = f"{len(data)}-settle-{os.urandom(4).hex()}"
    if user is None:
        url, headers = request.getfixturevalue("module_server").url, {}
    else:
        url, headers = request.getfixturevalue("host").url, {"x-user": user}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        first = post(http, data, 2, ident).json()
        assert not first["done"]
        third = piece(data, 3)
        query = urlencode(fields(data, 3, ident))
        address = httpx.URL(url)
        host, path = str(address.host), address.path.rstrip("/")
        held = socket.create_connection((host, int(address.port or 80)))
        try:
            held.sendall(
                f"POST {path}/flow/?{query} HTTP/1.1\r\nHost: {host}\r\n".encode()
                + "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode()
                + b"Content-Type: application/octet-stream\r\n"
                + f"Content-Length: {len(third)}\r\n\r\n".encode()
                + third[: CHUNK // 2]
            )
            wait_for(
                lambda: chunk_states(http, first["id"])[2] == "inflight",
                "chunk 3 is being written",
            )
            with ThreadPoolExecutor(1) as pool:
                waiting = pool.submit(post, http, data, 1, ident)
                wait_for(
                    lambda: http.get("/flow/", params=fields(data, 1, ident)).status_code == 200,
                    "chunk 1 is stored",
                )
                held.sendall(third[CHUNK // 2 :])
                reply = held.makefile("rb").readline()
                assert b" 200 " in reply, reply
                answer = waiting.result(timeout=60).json()
        finally:
            held.close()
    assert answer["done"] and answer["uploaded"] == [1, 2, 3], answer


def chunk_states(http: httpx.Client, upload_id: str) -> list[str]:
    """The inspector's chunk map of one upload: received, inflight or missing per chunk."""
    uploads = http.get("/inspect/state").json()["uploads"]
    states: list[str] = next(u["chunks"] for u in uploads if u["id"] == upload_id)
    return states


def test_the_chunk_size_limits_are_named_and_themselves_allowed(http: httpx.Client) -> None:
    def check(size: int) -> httpx.Response:
        free = {"flowTotalChunks": None, "flowCurrentChunkSize": None}
        return http.get("/flow/", params=fields(DATA, 1, "limits", flowChunkSize=size, **free))

    refused = check(1)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    lower, upper = error["minChunkSize"], error["maxChunkSize"]
    assert 1 < lower <= CHUNK <= upper
    for size, status in ((lower, 204), (upper, 204), (upper + 1, 400), (lower - 1, 400)):
        reply = check(size)
        assert reply.status_code == status, (size, reply.text)


def test_a_file_the_owner_holds_from_another_protocol_is_instant(host: HostApp) -> None:
    """An identifier that is the hash of a file the caller finished through the tasks API:
    testChunks says skip, and a chunk sent anyway completes at once without a byte stored.
    Another owner holding nothing of it uploads in full."""
    data = os.urandom(CHUNK + 7)
    ident = hashlib.sha256(data).hexdigest()
    task = {"hash": ident, "hashAlgorithm": "sha256", "fileName": "t.bin", "fileSize": len(data)}
    with host.client("carol") as carol, host.client("dave") as dave:
        created = carol.post("/api/task", json=task | {"chunkSize": len(data)}).json()
        assert carol.put(f"/api/task/{created['id']}/chunk/0", content=data).json()["done"]
        probe = carol.get("/flow/", params=fields(data, 1, ident))
        assert probe.status_code == 200 and probe.json()["skipUpload"], probe.text
        assert probe.json()["hash"] == ident and probe.json()["done"]
        received = carol.get("/health").json()["counters"]["bytes_received"]
        sent_anyway = post(carol, data, 1, ident).json()
        assert sent_anyway["done"] and sent_anyway["hash"] == ident
        assert carol.get("/health").json()["counters"]["bytes_received"] == received
        assert dave.get("/flow/", params=fields(data, 1, ident)).status_code == 204
        before = dave.get("/health").json()["counters"]["bytes_received"]
        his = post(dave, data, 1, ident).json()
        assert his["done"] and his["id"] != sent_anyway["id"]
        record = dave.get(f"/api/task/{his['id']}").json()
        assert record["protocol"] == "flow" and record["metadata"]["identifier"] == ident
        assert dave.get("/health").json()["counters"]["bytes_received"] - before == len(data)
