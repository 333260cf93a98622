"""Uppy 6 (`@uppy/tus` from the `uppy` bundle) with tus-js-client's `parallelUploads`, in the
suite's real Chromium against a real server: the file is split into partial uploads, joined
by a final one, and arrives byte-identical; the partials are gone afterwards."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.browser.test_demo import run_scenario
from tests.server_process import ServerProcess

TUS = {"Tus-Resumable": "1.0.0"}
SIZE = 3 * 1024 * 1024 + 777
PARTS = 3


def test_parallel_uploads_are_joined_byte_identical(server: ServerProcess, tmp_path: Path) -> None:
    data = os.urandom(SIZE)
    path = tmp_path / "random.bin"
    path.write_bytes(data)
    result = run_scenario(
        "uppy_tus.mjs", url=server.url, file=str(path), chunkSize=512 * 1024, parallelUploads=PARTS
    )
    assert result["failed"] == [] and len(result["uploadUrls"]) == 1, result
    url = result["uploadUrls"][0]
    assert result["posts"] == PARTS + 1  # one creation per partial, then the final
    with httpx.Client(timeout=30) as client:
        head = client.head(url, headers=TUS)
        concat = head.headers["Upload-Concat"]
        assert concat.startswith("final;") and len(concat.split(";", 1)[1].split()) == PARTS
        assert head.headers["Upload-Length"] == str(SIZE)
        assert client.get(url).content == data
        for part in concat.split(";", 1)[1].split():
            assert client.head(part, headers=TUS).status_code == 404  # joined, then removed
