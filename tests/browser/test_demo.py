"""The browser client (static/upslice.js) through the demo page, in Debian's real Chromium.

Each case runs one Node script from `js/` (playwright-core driving /usr/bin/chromium with a fresh
profile) against a real `upslice serve` process, then checks the server's side with httpx.
Missing node, Chromium or node_modules fail these tests: they never skip.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server_process import ServerProcess
from upslice.client.hashing import upload_checksum

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).parent / "js"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("UPSLICE_CHROMIUM", "/usr/bin/chromium")
SMALL_CHUNKS = ("--min-chunk-size", "1024")
CHUNK = 64 * 1024
QUERY = {"chunkSize": CHUNK}
MiB = 1024 * 1024


def run_scenario(script: str, *, allow_failed_loads: bool = False, **args: Any) -> dict[str, Any]:
    """Run `js/<script>` with `args` as JSON; return the JSON line it prints."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: run scripts/ensure-system-deps")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not at {CHROMIUM}: run scripts/ensure-system-deps")
    if not (ROOT / "node_modules" / "playwright-core").is_dir():
        pytest.fail("node_modules/playwright-core is missing: run scripts/ensure-system-deps")
    proc = subprocess.run(
        [node, str(SCRIPTS / script), json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env={**os.environ, "UPSLICE_CHROMIUM": CHROMIUM},
    )
    lines = proc.stdout.strip().splitlines()
    if not lines:
        pytest.fail(f"{script} printed nothing (exit {proc.returncode}):\n{proc.stderr}")
    result: dict[str, Any] = json.loads(lines[-1])
    assert result["ok"], f"{script}: {result.get('error')}\n{proc.stderr}"
    problems = [
        p
        for p in result["problems"]
        if not (allow_failed_loads and p.startswith("console: Failed to load resource"))
    ]
    assert problems == [], problems
    return result


def write_random(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def bytes_received(client: httpx.Client) -> int:
    counters: dict[str, int] = client.get("/health").json()["counters"]
    return counters["bytes_received"]


def assert_stored(client: httpx.Client, row: dict[str, Any], data: bytes) -> None:
    assert row["state"] == "done", row
    assert row["href"] == row["fileUrl"], "the download link points at the file"
    response = client.get(row["fileUrl"])
    assert response.status_code == 200
    assert response.content == data, f"{row['name']}: the server's copy differs"


@pytest.fixture
def chaos_server(tmp_path: Path) -> Iterator[ServerProcess]:
    chaos = "fail=0.2,delay=0.2,cut=0.1,delay-max=0.3"
    proc = ServerProcess(tmp_path / "data", *SMALL_CHUNKS, "--chaos", chaos).start()
    yield proc
    proc.stop()


def test_library_and_demo_are_served(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert 'src="static/demo.js"' in page.text
    for name in ("upslice.js", "hash-worker.js", "demo.js", "demo.css", "vendor/hash-wasm.LICENSE"):
        assert client.get(f"/static/{name}").status_code == 200, name
    assert "javascript" in client.get("/static/upslice.js").headers["content-type"]


def test_no_demo_keeps_the_library(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data", "--no-demo").start()
    try:
        assert httpx.get(f"{proc.url}/").status_code == 404
        assert httpx.get(f"{proc.url}/static/upslice.js").status_code == 200
    finally:
        proc.stop()


@pytest.mark.browser
@pytest.mark.parametrize(
    ("algorithm", "hash_first", "checksum"),
    [("md5", False, "crc32c"), ("sha256", False, "crc32"), ("md5", True, "md5")],
    ids=["md5-hash-later", "sha256-hash-later", "md5-hash-first"],
)
def test_multi_chunk_upload_is_byte_identical(
    server: ServerProcess,
    client: httpx.Client,
    tmp_path: Path,
    algorithm: str,
    hash_first: bool,
    checksum: str,
) -> None:
    data = write_random(tmp_path / "photo.raw", 3 * MiB + 12345)
    before = bytes_received(client)
    query = {**QUERY, "hash": algorithm, "checksum": checksum}
    if hash_first:
        query["hashFirst"] = 1
    result = run_scenario(
        "upload.mjs", url=server.url, files=[str(tmp_path / "photo.raw")], query=query
    )
    [row] = result["rows"]
    assert_stored(client, row, data)
    assert not row["instant"]
    assert row["retries"] == 0
    assert bytes_received(client) - before == len(data), "every byte travelled exactly once"
    task = client.get(f"/api/task/{row['taskId']}").json()
    assert task["chunkSize"] == CHUNK
    assert task["chunkCount"] == -(-len(data) // CHUNK) > 40
    assert task["hashAlgorithm"] == algorithm
    assert task["hash"] == hashlib.new(algorithm, data).hexdigest()
    headers = result["chunkHeaders"]
    assert len(headers) == task["chunkCount"]
    expected = upload_checksum(data[CHUNK : 2 * CHUNK], checksum)  # the Python client's, too
    assert headers[f"{row['taskId']}/1"]["upload-checksum"] == expected
    assert headers[f"{row['taskId']}/1"]["content-type"] == "application/octet-stream"
    [create] = [c for c in result["calls"] if c["method"] == "POST" and c["path"] == "/api/task"]
    declared = [c for c in result["calls"] if c["method"] == "PUT"]
    if hash_first:
        assert create["body"]["hash"] == task["hash"] and declared == []
    else:
        assert "hash" not in create["body"], "hash-later creates the task before hashing"
        assert [c["body"] for c in declared] == [{"hash": task["hash"], "hashAlgorithm": algorithm}]
        assert declared[0]["path"] == f"/api/task/{row['taskId']}/hash"


@pytest.mark.browser
def test_drag_and_drop(server: ServerProcess, client: httpx.Client) -> None:
    sizes = [200_000, 70_000]
    result = run_scenario("drop.mjs", url=server.url, query=QUERY, sizes=sizes)
    assert result["highlighted"], "the drop zone shows that it will take the files"
    rows = {row["name"]: row for row in result["rows"]}
    for k, size in enumerate(sizes):
        assert_stored(
            client, rows[f"dropped-{k}.bin"], bytes((i * 7 + k) % 251 for i in range(size))
        )


@pytest.mark.browser
def test_cancel_deletes_the_task(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    write_random(tmp_path / "oops.iso", 3 * MiB)
    result = run_scenario(
        "cancel.mjs",
        url=server.url,
        file=str(tmp_path / "oops.iso"),
        query=QUERY,
        throttle=1_000_000,
    )
    [row] = result["rows"]
    assert row["state"] == "aborted"
    assert row["message"] == "Cancelled; the partial upload was deleted."
    assert client.get(f"/api/task/{row['taskId']}").status_code == 404
    assert result["saved"] == []


@pytest.mark.browser
def test_errors_in_plain_words(tmp_path: Path) -> None:
    write_random(tmp_path / "huge.bin", 5000)
    proc = ServerProcess(tmp_path / "data", *SMALL_CHUNKS, "--max-file-size", "4096").start()
    try:
        result = run_scenario(
            "upload.mjs",
            allow_failed_loads=True,  # the 413 itself
            url=proc.url,
            files=[str(tmp_path / "huge.bin")],
            query=QUERY,
            expectError=True,
        )
    finally:
        proc.stop()
    [row] = result["rows"]
    assert row["error"]["code"] == "too_large"
    assert row["message"] == "The file is larger than this server accepts."
    assert not result["resumeVisible"], "no Resume button for a file the server refuses"


@pytest.mark.browser
def test_several_files_at_once_with_screenshot(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    sizes = {"video.mp4": 4 * MiB, "notes.pdf": 2 * MiB + 17, "tiny.txt": 1000, "empty.dat": 0}
    files = {name: write_random(tmp_path / name, size) for name, size in sizes.items()}
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "demo-mid-upload.png"
    shot.unlink(missing_ok=True)
    result = run_scenario(
        "upload.mjs",
        url=server.url,
        files=[str(tmp_path / name) for name in files],
        query=QUERY,
        throttle=1_500_000,
        screenshot=str(shot),
        screenshotAt=0.3,
    )
    rows = {row["name"]: row for row in result["rows"]}
    assert set(rows) == set(files)
    for name, data in files.items():
        assert_stored(client, rows[name], data)
    assert shot.stat().st_size > 10_000
    midway = result["midway"]
    assert any(row["state"] == "uploading" for row in midway), midway
    assert any(row["speedText"].endswith("/s") for row in midway), "speed is shown mid-upload"


@pytest.mark.browser
def test_pause_sends_nothing_and_resume_sends_only_the_rest(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    data = write_random(tmp_path / "backup.tar", 4 * MiB)
    before = bytes_received(client)
    result = run_scenario(
        "pause_resume.mjs",
        url=server.url,
        file=str(tmp_path / "backup.tar"),
        query=QUERY,
        throttle=2_000_000,
    )
    assert result["paused"]["state"] == "paused"
    assert result["countersLater"] == result["countersAtPause"], "nothing arrives while paused"
    assert 0 < result["heldAtPause"] < len(data)
    [row] = result["rows"]
    assert_stored(client, row, data)
    assert bytes_received(client) - before == len(data), "no chunk was sent twice"


@pytest.mark.browser
@pytest.mark.parametrize("hash_first", [True, False], ids=["hash-first", "hash-later"])
def test_reload_midway_resumes_without_rehashing(
    server: ServerProcess, client: httpx.Client, tmp_path: Path, hash_first: bool
) -> None:
    """With the hash known before the reload (hash first, or hash-later once declared)."""
    data = write_random(tmp_path / "dataset.csv", 3 * MiB)
    result = run_scenario(
        "reload_resume.mjs",
        url=server.url,
        file=str(tmp_path / "dataset.csv"),
        query={**QUERY, "hashFirst": 1} if hash_first else QUERY,
        throttle=1_000_000,
        waitSavedHash=not hash_first,
    )
    [saved] = result["saved"]
    assert saved["value"]["id"] == result["before"]["taskId"]
    held = result["heldAtReload"]["uploadedBytes"]
    assert 0 < held < len(data), "the reload happened midway"
    [row] = result["rows"]
    assert_stored(client, row, data)
    assert row["taskId"] == saved["value"]["id"], "the same task was resumed"
    assert row["hashSkipped"] and row["hashText"] == "saved", "no second hashing pass"
    assert row["resumed"]
    sent_after = (
        result["countersAfter"]["bytes_received"] - result["countersAtReload"]["bytes_received"]
    )
    assert sent_after == len(data) - held, "only the missing chunks travelled after the reload"
    [after] = result["savedAfter"]
    assert after["done"] and after["id"] == row["taskId"], "a finished upload is remembered as done"


@pytest.mark.browser
def test_chaos_server_still_gets_identical_bytes(
    chaos_server: ServerProcess, tmp_path: Path
) -> None:
    data = write_random(tmp_path / "flaky.bin", 4 * MiB)
    result = run_scenario(
        "upload.mjs",
        allow_failed_loads=True,
        url=chaos_server.url,
        files=[str(tmp_path / "flaky.bin")],
        query={**QUERY, "retryDelay": 100},
    )
    [row] = result["rows"]
    assert row["retries"] > 0, "chaos mode injected no failure: is it on?"
    with httpx.Client(base_url=chaos_server.url, timeout=30) as client:
        assert_stored(client, row, data)


@pytest.mark.browser
def test_instant_upload_of_a_file_the_server_has(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    data = write_random(tmp_path / "report.pdf", 1 * MiB)
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "same-report.pdf").write_bytes(data)
    first = run_scenario(
        "upload.mjs", url=server.url, files=[str(tmp_path / "report.pdf")], query=QUERY
    )
    before = bytes_received(client)
    # a fresh browser profile, another name: only the content is the same
    second = run_scenario(
        "upload.mjs",
        url=server.url,
        files=[str(tmp_path / "copy" / "same-report.pdf")],
        query={**QUERY, "hashFirst": 1},
    )
    [row] = second["rows"]
    assert row["instant"]
    assert row["message"] == "The server already had this file: nothing was sent."
    assert row["taskId"] != first["rows"][0]["taskId"]
    assert bytes_received(client) == before, "not a byte was sent"
    assert_stored(client, row, data)


@pytest.mark.browser
def test_instant_takeover_while_uploading(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    """Hash-later: the second copy starts sending, declares its hash, and stops: done, instant."""
    data = write_random(tmp_path / "album.zip", 2 * MiB)
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "album-again.zip").write_bytes(data)
    first = run_scenario(
        "upload.mjs", url=server.url, files=[str(tmp_path / "album.zip")], query=QUERY
    )
    before = bytes_received(client)
    second = run_scenario(
        "upload.mjs",
        url=server.url,
        files=[str(tmp_path / "copy" / "album-again.zip")],
        query=QUERY,
        throttle=1_000_000,  # 2 s of sending: the hash (a few ms in the worker) comes first
    )
    [row] = second["rows"]
    assert row["instant"] and row["taskId"] != first["rows"][0]["taskId"]
    assert row["message"] == "The server already had this file: the upload stopped early."
    sent = bytes_received(client) - before
    assert sent < len(data) // 2, f"{sent} bytes sent: the upload did not stop early"
    [create] = [c for c in second["calls"] if c["method"] == "POST" and c["path"] == "/api/task"]
    assert "hash" not in create["body"]
    assert_stored(client, row, data)


@pytest.mark.browser
def test_reload_resumes_a_task_whose_hash_is_not_declared_yet(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    """Hash-later, reloaded before the hash was known: the saved id finds the task again."""
    data = write_random(tmp_path / "scan.tiff", 3 * MiB)
    result = run_scenario(
        "reload_resume.mjs",
        url=server.url,
        file=str(tmp_path / "scan.tiff"),
        query={**QUERY, "checksum": "none"},
        throttle=1_000_000,
        holdWorker=True,  # the hash worker's script loads only after the reload
    )
    [saved] = result["saved"]
    assert saved["value"]["id"] == result["before"]["taskId"]
    assert saved["value"]["hash"] is None, "saved before the hash was known"
    at_reload = result["heldAtReload"]
    assert at_reload["hash"] is None and at_reload["hashPending"] is True
    held = at_reload["uploadedBytes"]
    assert 0 < held < len(data), "the reload happened midway"
    [row] = result["rows"]
    assert_stored(client, row, data)
    assert row["taskId"] == saved["value"]["id"], "the same task was resumed"
    assert row["resumed"] and not row["hashSkipped"]
    sent_after = (
        result["countersAfter"]["bytes_received"] - result["countersAtReload"]["bytes_received"]
    )
    assert sent_after == len(data) - held, "only the missing chunks travelled after the reload"
    [after] = result["savedAfter"]
    assert after["done"] and after["hash"] == hashlib.md5(data).hexdigest()
