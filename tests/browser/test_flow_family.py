"""resumable.js, flow.js and simple-uploader.js (real code from node_modules) in Chromium,
against /flow/ of a real `upslice serve`: defaults, common options, pause/resume, dropped
connections, a reload that sends only the missing chunks, and MD5 identifiers (instant).

One Node run drives one browser through every scenario of every library (js/flow_family.mjs);
each test below then checks one scenario's outcome and the server's copy.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.test_demo import SMALL_CHUNKS, run_scenario
from tests.server_process import ServerProcess

pytestmark = pytest.mark.browser
LIBS = ["resumable", "flow", "simple"]
SCENARIOS = ["defaults", "options", "pause", "chaos", "reload", "md5"]
KiB, MiB = 1024, 1024 * 1024
CHUNK = 512 * KiB
SIZE = 4 * MiB + 12345  # 8 chunks, the last one 512 KiB + 12345 bytes (forceChunkSize: 9)
CHUNKS, FORCED_CHUNKS = SIZE // CHUNK, -(-SIZE // CHUNK)
RETRIES = {"maxChunkRetries": 40, "chunkRetryInterval": 50}
CALLBACK = {"readUploadedList": True}  # simple-uploader's checkChunkUploadedByResponse


class Family:
    def __init__(
        self,
        results: dict[tuple[str, str], dict[str, Any]],
        data: dict[str, bytes],
        chaos_log: str,
    ) -> None:
        self.results = results
        self.data = data
        self.chaos_log = chaos_log


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ...]]:
    base = tmp_path_factory.mktemp("flow")
    plain = ServerProcess(base / "plain", *SMALL_CHUNKS).start()
    chaos = ServerProcess(base / "chaos", *SMALL_CHUNKS, "--chaos", "cut=0.5,seed=3").start()
    # every chunk request waits up to 0.5 s before it is read: time to pause or reload mid-way
    slow = ServerProcess(base / "slow", *SMALL_CHUNKS, "--chaos", "delay=1,delay-max=0.5").start()
    yield plain, chaos, slow
    for proc in (slow, chaos, plain):
        proc.stop()


@pytest.fixture(scope="module")
def family(servers: tuple[ServerProcess, ...], tmp_path_factory: pytest.TempPathFactory) -> Family:
    folder = tmp_path_factory.mktemp("flow-files")
    data: dict[str, bytes] = {}
    runs = []
    for lib in LIBS:
        for name in SCENARIOS:
            size = 3 * CHUNK + 777 if name == "md5" else SIZE
            path = folder / f"{lib}-{name}.bin"
            data[f"{lib}/{name}"] = content = os.urandom(size)
            path.write_bytes(content)
            run: dict[str, Any] = {"lib": lib, "scenario": name, "files": [str(path)]}
            if name == "md5":
                run["files"] = [str(path), str(path)]
                run["md5"] = hashlib.md5(content).hexdigest()
            if lib == "simple" and name in ("md5", "reload"):
                run["options"] = CALLBACK
            runs.append(run)
    plain, chaos, slow = servers
    result = run_scenario(
        "flow_family.mjs",
        url=plain.url,
        chaosUrl=chaos.url,
        slowUrl=slow.url,
        chunkSize=CHUNK,
        retries=RETRIES,
        runs=runs,
    )
    assert result["pageProblems"] == []
    results = {(r["lib"], r["scenario"]): r for r in result["results"]}
    return Family(results, data, chaos.log())


def assert_stored(message: dict[str, Any], data: bytes) -> dict[str, Any]:
    """The reply to the last chunk says done; the server's file is byte-identical."""
    assert message["done"] and message["skipUpload"], message
    assert message["hash"] == hashlib.md5(data).hexdigest()
    with httpx.Client(timeout=30) as http:
        assert http.get(message["fileUrl"]).content == data, "the server's copy differs"
        task: dict[str, Any] = http.get(message["fileUrl"].removesuffix("/file")).json()
    assert task["protocol"] == "flow" and task["fileSize"] == len(data)
    return task


@pytest.mark.parametrize("lib", LIBS)
def test_default_options_test_each_chunk_then_send_it(family: Family, lib: str) -> None:
    result = family.results[lib, "defaults"]
    task = assert_stored(result["message"], family.data[f"{lib}/defaults"])
    assert task["chunkSize"] == CHUNK, "the client's chunk size is kept"
    seen = result["seen"]
    assert seen["tests"] == {"204": CHUNKS}, "every chunk asked first, and was absent"
    assert seen["posts"] == CHUNKS, "the last chunk carries the remainder (up to 2x)"


@pytest.mark.parametrize("lib", LIBS)
def test_common_options(family: Family, lib: str) -> None:
    """testChunks off, forceChunkSize, simultaneousUploads: 4, a custom query."""
    result = family.results[lib, "options"]
    task = assert_stored(result["message"], family.data[f"{lib}/options"])
    seen = result["seen"]
    assert seen["tests"] == {}, "testChunks: false sends no GET"
    assert seen["posts"] == FORCED_CHUNKS, "forceChunkSize: true cuts one more, short chunk"
    assert seen["maxInFlight"] > 1, "chunks travelled in parallel"
    assert task["metadata"]["project"] == "apollo", "the custom query reached the server"


@pytest.mark.parametrize("lib", LIBS)
def test_pause_and_resume(family: Family, lib: str) -> None:
    result = family.results[lib, "pause"]
    paused = result["paused"]
    assert paused["progress"] < 1 and not paused["success"], paused
    sent = result["atPause"]["bytes_received"] - result["before"]["bytes_received"]
    assert 0 < sent < SIZE, "the server had part of the file when the upload paused"
    assert_stored(result["message"], family.data[f"{lib}/pause"])


@pytest.mark.parametrize("lib", LIBS)
def test_dropped_connections_are_retried(family: Family, lib: str) -> None:
    """Chromium itself re-sends a request cut on a reused connection; the library's own
    retries (as configured) cover the rest. Either way the file arrives whole."""
    result = family.results[lib, "chaos"]
    assert family.chaos_log.count("chaos: cutting the connection") >= 3
    assert_stored(result["message"], family.data[f"{lib}/chaos"])


@pytest.mark.parametrize("lib", LIBS)
def test_reload_sends_only_the_missing_chunks(family: Family, lib: str) -> None:
    result = family.results[lib, "reload"]
    assert_stored(result["message"], family.data[f"{lib}/reload"])
    held = result["atReload"]["chunks_received"] - result["before"]["chunks_received"]
    assert 0 < held < CHUNKS, "the first page stored some chunks, not all"
    sent = result["second"]["posts"]
    assert sent == CHUNKS - held, "after the reload exactly the missing chunks were sent"
    received = result["after"]["chunks_received"] - result["before"]["chunks_received"]
    assert received == CHUNKS, "over both pages the server stored each chunk exactly once"


@pytest.mark.parametrize("lib", LIBS)
def test_md5_identifier_is_verified_and_instant_the_second_time(family: Family, lib: str) -> None:
    first, second = family.results[lib, "md5"]["results"]
    data = family.data[f"{lib}/md5"]
    assert_stored(first["message"], data)
    assert first["message"]["hashAlgorithm"] == "md5"
    assert second["seen"]["posts"] == 0, "the owner holds the file: no chunk is sent"
    assert second["message"]["id"] == first["message"]["id"]
    tests = second["seen"]["tests"]
    assert set(tests) == {"200"}, tests
    if lib == "simple":  # checkChunkUploadedByResponse: one answer covers every chunk
        assert tests == {"200": 1}
