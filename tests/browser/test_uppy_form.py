"""@uppy/xhr-upload (the `uppy` 6.0.1 bundle from node_modules) in Chromium, posting plain
multipart form uploads to POST /api/upload: one request per file, then all files in one."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest

from tests.browser.test_demo import run_scenario
from tests.server_process import ServerProcess


@pytest.mark.browser
def test_uppy_xhr_upload_single_and_bundled(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    files = {"cat.png": os.urandom(300_000), "readme.txt": b"plain text\n" * 1000}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    result = run_scenario(
        "uppy_xhr.mjs", url=server.url, files=[str(tmp_path / name) for name in files]
    )
    for mode in ("single", "bundled"):
        run = result[mode]
        assert run["failed"] == [], run
        assert sorted(s["name"] for s in run["successes"]) == sorted(files), run
    for success in result["single"]["successes"]:
        [entry] = success["body"]["files"]
        assert success["uploadURL"] == entry["url"], "Uppy found the file's url"
        assert client.get(entry["url"]).content == files[success["name"]]
    bundled = result["bundled"]["successes"][0]["body"]["files"]
    assert sorted(e["field"] for e in bundled) == ["files[]", "files[]"]
    for entry in bundled:
        data = files[entry["fileName"]]
        assert entry["hash"] == hashlib.md5(data).hexdigest()
        assert client.get(entry["url"]).content == data
    assert len(client.get("/api/tasks").json()["tasks"]) == 4
