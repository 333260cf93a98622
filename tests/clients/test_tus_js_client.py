"""tus-js-client (Node build) against a real server: abort and resume, and parallel uploads.

Node and node_modules are required: without them these tests fail (scripts/ensure-system-deps
installs both), they never skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.server_process import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().parent / "js" / "tus_upload.mjs"
SIZE = 6 * 1024 * 1024 + 4321
CHUNK = 1024 * 1024


def run_node(**options: Any) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None, "node is not installed: run scripts/ensure-system-deps"
    assert (ROOT / "node_modules" / "tus-js-client").is_dir(), "run scripts/ensure-system-deps"
    done = subprocess.run(
        [node, str(SCRIPT), json.dumps(options)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no report from node (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def received(server: ServerProcess) -> int:
    return int(httpx.get(f"{server.url}/health").json()["counters"]["bytes_received"])


def upload_id(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def test_abort_halfway_then_resume_without_resending(server: ServerProcess, tmp_path: Path) -> None:
    data = os.urandom(SIZE)
    path = tmp_path / "random.bin"
    path.write_bytes(data)
    endpoint = f"{server.url}/files/"
    first = run_node(endpoint=endpoint, file=str(path), chunkSize=CHUNK, abortAt=SIZE // 2)
    assert first["event"] == "aborted", first
    head = httpx.head(first["url"], headers={"Tus-Resumable": "1.0.0"})
    offset = int(head.headers["Upload-Offset"])
    assert 0 < offset < SIZE
    before = received(server)
    assert before == offset  # what arrived before the abort is what the server kept

    second = run_node(endpoint=endpoint, file=str(path), chunkSize=CHUNK, uploadUrl=first["url"])
    assert second["event"] == "success", second
    assert second["url"] == first["url"]
    # The second run sent only what the server lacked.
    assert received(server) - before == SIZE - offset
    download = httpx.get(f"{server.url}/files/{upload_id(second['url'])}")
    assert download.content == data


def test_parallel_uploads_are_concatenated(server: ServerProcess, tmp_path: Path) -> None:
    data = os.urandom(SIZE)
    path = tmp_path / "random.bin"
    path.write_bytes(data)
    result = run_node(
        endpoint=f"{server.url}/files/", file=str(path), chunkSize=CHUNK, parallelUploads=3
    )
    assert result["event"] == "success", result
    final = httpx.head(result["url"], headers={"Tus-Resumable": "1.0.0"})
    assert final.headers["Upload-Concat"].startswith("final;")
    assert len(final.headers["Upload-Concat"].removeprefix("final;").split()) == 3
    assert final.headers["Upload-Length"] == str(SIZE)
    download = httpx.get(f"{server.url}/files/{upload_id(result['url'])}")
    assert download.content == data
    task = httpx.get(f"{server.url}/api/task/{upload_id(result['url'])}").json()
    assert task["done"] and task["fileName"] == "random.bin"
