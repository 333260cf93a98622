"""tuspy (the tus project's Python client) against a real server, through a cutting proxy."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import cast

import httpx
from tusclient import client as tus_client

from tests.cutting_proxy import CuttingProxy
from tests.server_process import ServerProcess

SIZE = 3 * 1024 * 1024 + 12345  # four 1 MiB chunks, the last one short
CHUNK = 1024 * 1024


def received(server: ServerProcess) -> int:
    counters = httpx.get(f"{server.url}/health").json()["counters"]
    return int(counters["bytes_received"])


def download(server: ServerProcess, url: str) -> bytes:
    upload_id = url.rstrip("/").rsplit("/", 1)[1]
    response = httpx.get(f"{server.url}/files/{upload_id}", timeout=30)
    response.raise_for_status()
    return response.content


def test_multi_chunk_upload_resumes_after_a_cut_mid_chunk(
    server: ServerProcess, tmp_path: Path
) -> None:
    data = os.urandom(SIZE)
    path = tmp_path / "random.bin"
    path.write_bytes(data)
    with CuttingProxy(server.port) as proxy:
        uploader = tus_client.TusClient(f"{proxy.url}/files/").uploader(
            file_path=str(path),
            chunk_size=CHUNK,
            metadata={"filename": "random.bin", "filetype": "application/octet-stream"},
            retries=5,
            retry_delay=0.5,
        )
        proxy.arm(CHUNK + CHUNK // 2)  # inside the second PATCH
        uploader.upload()
        assert proxy.cuts == 1
    url = cast(str, uploader.url)  # tuspy types it as None until set
    assert uploader.offset == SIZE
    assert download(server, url) == data
    # What the server kept from the cut PATCH was not sent again: every byte arrived once.
    assert received(server) == SIZE
    task = httpx.get(f"{server.url}/api/task/{url.rsplit('/', 1)[1]}").json()
    assert task["done"] and task["protocol"] == "tus" and task["fileName"] == "random.bin"


def test_checksummed_chunks_and_whole_file_checksum(server: ServerProcess, tmp_path: Path) -> None:
    """Per-request sha1 (Upload-Checksum) plus the whole-file sha256 from metadata; a cut
    checksummed body is discarded whole and re-sent."""
    data = os.urandom(SIZE)
    path = tmp_path / "random.bin"
    path.write_bytes(data)
    whole = "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()
    with CuttingProxy(server.port) as proxy:
        uploader = tus_client.TusClient(f"{proxy.url}/files/").uploader(
            file_path=str(path),
            chunk_size=CHUNK,
            metadata={"filename": "random.bin", "checksum": whole},
            upload_checksum=True,
            retries=5,
            retry_delay=0.5,
        )
        proxy.arm(2 * CHUNK + CHUNK // 3)
        uploader.upload()
        assert proxy.cuts == 1
    url = cast(str, uploader.url)
    assert download(server, url) == data
    assert received(server) == SIZE  # the cut chunk's partial bytes never counted
    task = httpx.get(f"{server.url}/api/task/{url.rsplit('/', 1)[1]}").json()
    assert task["hashAlgorithm"] == "sha256" and task["hash"] == hashlib.sha256(data).hexdigest()
