"""tus-js-client's IETF-draft modes against a real server: `ietf-draft-03` (interop version 5)
and `ietf-draft-05` (interop version 6) upload, abort halfway and resume, unchanged."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.clients.test_tus_js_client import CHUNK, SIZE, received, run_node, upload_id
from tests.server_process import ServerProcess

MODES = {"ietf-draft-03": "5", "ietf-draft-05": "6"}


@pytest.mark.parametrize("protocol", sorted(MODES))
def test_abort_halfway_then_resume(
    module_server: ServerProcess, tmp_path: Path, protocol: str
) -> None:
    server = module_server
    data = os.urandom(SIZE)
    path = tmp_path / "random.bin"
    path.write_bytes(data)
    options = {
        "endpoint": f"{server.url}/files/",
        "file": str(path),
        "chunkSize": CHUNK,
        "buffer": True,  # see tus_upload.mjs: its Node file source never sends the last flag
    }
    start = received(server)  # the server is shared by the module: count from here
    first = run_node(**options, protocol=protocol, abortAt=SIZE // 2)
    assert first["event"] == "aborted", first
    draft = {"Upload-Draft-Interop-Version": MODES[protocol]}
    head = httpx.head(first["url"], headers=draft)
    offset = int(head.headers["Upload-Offset"])
    assert 0 < offset < SIZE and head.headers["Upload-Complete"] == "?0"
    before = received(server)
    assert before - start == offset  # what arrived before the abort is what the server kept

    second = run_node(**options, protocol=protocol, uploadUrl=first["url"])
    assert second["event"] == "success", second
    assert second["url"] == first["url"]
    assert received(server) - before == SIZE - offset  # only what the server lacked
    task = httpx.get(f"{server.url}/api/task/{upload_id(second['url'])}").json()
    assert task["done"] and task["protocol"] == "ietf"
    assert httpx.get(second["url"]).content == data
