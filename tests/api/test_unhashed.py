"""Uploads that declare no hash are not hashed unless the server is told to (--hash-undeclared):
per byte the server then does a write and a CRC-32, nothing more, and still serves the file."""

from __future__ import annotations

import base64
import hashlib
import sqlite3
from collections.abc import Iterator

import httpx
import pytest

from tests.api.tus_cases import DRAFT, OCTETS, create
from tests.server_process import ServerProcess

DATA = hashlib.sha256(b"unhashed").digest() * 40_000  # 1.25 MiB: several hash blocks


@pytest.fixture(scope="module", params=["default", "--hash-undeclared"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    args = [] if request.param == "default" else [request.param]
    proc = ServerProcess(tmp_path_factory.mktemp("unhashed") / "data", *args).start()
    yield proc
    proc.stop()


def hashes_undeclared(server: ServerProcess) -> bool:
    return "--hash-undeclared" in server.args


def checkpoints(server: ServerProcess) -> int:
    with sqlite3.connect(server.data_dir / "upslice.db") as db:
        count: int = db.execute("SELECT count(*) FROM hash_states").fetchone()[0]
        return count


def upload_by_tus(http: httpx.Client, data: bytes, metadata: str | None = None) -> str:
    headers = {"Upload-Length": str(len(data))}
    if metadata is not None:
        headers["Upload-Metadata"] = metadata
    url = create(http, headers)
    half = len(data) // 2
    for offset, part in ((0, data[:half]), (half, data[half:])):
        reply = http.patch(url, headers=OCTETS | {"Upload-Offset": str(offset)}, content=part)
        assert reply.status_code == 204, reply.text
    return url.rsplit("/", 1)[1]


def test_tus_upload_without_a_checksum(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        before = checkpoints(server)
        upload_id = upload_by_tus(http, DATA)
        task = http.get(f"/api/task/{upload_id}").json()
        assert task["done"]
        if hashes_undeclared(server):
            assert (task["hashAlgorithm"], task["hash"]) == ("md5", hashlib.md5(DATA).hexdigest())
        else:
            assert (task["hashAlgorithm"], task["hash"]) == ("none", None)
            assert checkpoints(server) == before  # no hash state was ever saved for it
        download = http.get(f"/api/task/{upload_id}/file")
        assert download.status_code == 200 and download.content == DATA
        assert download.headers["etag"] != '"none-None"'
        again = http.get(
            f"/api/task/{upload_id}/file", headers={"If-None-Match": download.headers["etag"]}
        )
        assert again.status_code == 304


def test_a_declared_checksum_is_always_verified(server: ServerProcess) -> None:
    digest = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
    metadata = "checksum " + base64.b64encode(f"sha256 {digest}".encode()).decode()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        upload_id = upload_by_tus(http, DATA, metadata)
        task = http.get(f"/api/task/{upload_id}").json()
        assert (task["hashAlgorithm"], task["hash"]) == ("sha256", hashlib.sha256(DATA).hexdigest())
        wrong = "checksum " + base64.b64encode(b"md5 " + base64.b64encode(b"x" * 16)).decode()
        url = create(http, {"Upload-Length": "3", "Upload-Metadata": wrong})
        reply = http.patch(url, headers=OCTETS | {"Upload-Offset": "0"}, content=b"abc")
        assert reply.status_code == 460


def test_ietf_upload_announces_a_digest_only_when_hashed(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        reply = http.post(
            "/files/", headers=DRAFT | {"Upload-Complete": "?1"}, content=b"0123456789"
        )
        assert reply.status_code == 201, reply.text
        digest = reply.headers.get("repr-digest")
        if hashes_undeclared(server):
            wanted = base64.b64encode(hashlib.sha256(b"0123456789").digest()).decode()
            assert digest == f"sha-256=:{wanted}:"
        else:
            assert digest is None
