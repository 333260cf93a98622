"""Uploads through nginx survive a node (or worker) killed with SIGKILL while they run.

Each test starts real clients through the load balancer, waits until chunks are acknowledged
(by every node, where there are several), SIGKILLs a process that is receiving bytes at that
moment, and then checks: every upload finished, byte-identical; no acknowledged chunk was sent
again (from the nginx access log); and, with one process per node, each survivor's /health
byte counter equals what the log says it acknowledged.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
from tusclient import client as tus_client

from tests.browser.test_demo import run_scenario
from tests.clients.test_tus_js_client import run_node
from tests.cluster.harness import (
    Cluster,
    Kill,
    Request,
    assert_no_acknowledged_chunk_resent,
    chunk_requests,
    kill_busy_process,
    logged_bytes,
    wait_for,
)
from upslice import AsyncClient
from upslice.client.retry import RetryPolicy

MiB = 1024 * 1024
T = TypeVar("T")


def in_background(work: Callable[[], T]) -> Future[T]:
    pool = ThreadPoolExecutor(1)
    future = pool.submit(work)
    pool.shutdown(wait=False)
    return future


def write_random(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def several_nodes(cluster: Cluster) -> bool:
    return len(cluster.state["nodes"]) > 1


def kill_during(cluster: Cluster, work: Callable[[], T], uploads: int = 1) -> tuple[T, Kill, int]:
    """Run `work` in the background and kill a busy server process while it runs."""
    start = cluster.log_mark()
    spread = len(cluster.state["nodes"])
    running = in_background(work)
    try:
        kill = kill_busy_process(
            cluster, start, uploads=uploads, spread=spread, running=lambda: not running.done()
        )
    finally:
        result = running.result(timeout=240)
    return result, kill, start


def check_ledger(
    cluster: Cluster, start: int, kill: Kill, total: int, counters: dict[str, int]
) -> list[Request]:
    """The checks every test shares; returns the chunk requests of the test."""
    wait_for(
        lambda: logged_bytes(chunk_requests(cluster, start), kill.upstream) >= total,
        "nginx logs the last chunk request of the upload",
        30,
    )
    requests = chunk_requests(cluster, start)
    errors = [r for r in requests if r.status >= 500 and r.upstream != kill.upstream]
    assert not errors, f"a survivor failed requests (see its log in {cluster.base}): {errors}"
    assert_no_acknowledged_chunk_resent(requests, total, kill.upstream)
    acked = [r for r in requests if r.acknowledged]
    assert any(r.upstream == kill.upstream for r in acked), "the victim served chunks first"
    cut = [r for r in requests if r.upstream == kill.upstream and not r.acknowledged]
    assert cut, "the kill cut a chunk request short"
    if several_nodes(cluster):
        assert {r.upstream for r in acked} == set(cluster.node_urls), "chunks on every node"
        after = [r for r in cluster.requests(kill.mark) if r.is_chunk and r.acknowledged]
        assert all(r.upstream != kill.upstream for r in after[1:]), after[:3]
        if not after:  # nothing was left to send: the victim had stored the cut chunk whole
            before = [r for r in cluster.requests(start, kill.mark) if r.is_chunk]
            assert logged_bytes(before, kill.upstream) >= total, "no chunk sent after the kill"
        now = cluster.counters_of(a for a in cluster.node_urls if a != kill.upstream)
        for address, value in now.items():
            logged = sum(r.body for r in acked if r.upstream == address)
            assert value - counters[address] == logged, f"{address}: /health vs nginx log"
    else:  # one node: a worker died, and uvicorn's supervisor replaced it
        assert kill.pid != cluster.state["nodes"][0]["pid"], "the victim was a worker"
        wait_for(lambda: len(cluster.worker_pids()) == 2, "the node runs two workers again")
        assert kill.pid not in cluster.worker_pids()
    return requests


def test_tasks_api_four_streams(healed: Cluster, tmp_path: Path) -> None:
    data = write_random(tmp_path / "video.bin", 48 * MiB)
    counters = healed.counters()

    async def upload() -> str:
        retry = RetryPolicy(attempts=8, base=0.1, cap=1.0)
        async with AsyncClient(healed.url, retry=retry, timeout=60) as client:
            task = await client.upload(tmp_path / "video.bin", concurrency=4, chunk_size=MiB)
            return task.id

    task_id, kill, start = kill_during(healed, lambda: asyncio.run(upload()))
    requests = check_ledger(healed, start, kill, len(data), counters)
    assert {r.upload for r in requests} == {task_id}
    file = httpx.get(f"{healed.url}/api/task/{task_id}/file", timeout=60)
    assert file.status_code == 200 and file.content == data


def test_tus_js_client_three_parallel_uploads(healed: Cluster, tmp_path: Path) -> None:
    data = write_random(tmp_path / "archive.bin", 48 * MiB)
    counters = healed.counters()
    options = {"endpoint": f"{healed.url}/files/", "file": str(tmp_path / "archive.bin"),
               "chunkSize": 2 * MiB, "parallelUploads": 3}  # fmt: skip
    result, kill, start = kill_during(healed, lambda: run_node(**options))
    assert result["event"] == "success", result
    requests = check_ledger(healed, start, kill, len(data), counters)
    assert len({r.upload for r in requests}) == 3, "three partial uploads"
    final = result["url"].rstrip("/").rsplit("/", 1)[1]
    head = httpx.head(f"{healed.url}/files/{final}", headers={"Tus-Resumable": "1.0.0"})
    assert head.headers["Upload-Concat"].startswith("final;")
    assert httpx.get(f"{healed.url}/files/{final}", timeout=60).content == data


def test_tuspy_small_chunks(healed: Cluster, tmp_path: Path) -> None:
    data = write_random(tmp_path / "dataset.bin", 32 * MiB)
    counters = healed.counters()
    uploader = tus_client.TusClient(f"{healed.url}/files/").uploader(
        file_path=str(tmp_path / "dataset.bin"),
        chunk_size=512 * 1024,
        metadata={"filename": "dataset.bin"},
        retries=10,
        retry_delay=1,  # a dead node's append lease lapses within --lease-seconds (5 s)
    )
    _, kill, start = kill_during(healed, uploader.upload)
    assert uploader.offset == len(data)
    check_ledger(healed, start, kill, len(data), counters)
    upload_id = cast(str, uploader.url).rstrip("/").rsplit("/", 1)[1]
    assert httpx.get(f"{healed.url}/files/{upload_id}", timeout=60).content == data


def test_browser_client_in_chromium(healed: Cluster, tmp_path: Path) -> None:
    data = write_random(tmp_path / "photo.raw", 32 * MiB)
    counters = healed.counters()

    def upload() -> dict[str, Any]:
        return run_scenario(
            "upload.mjs",
            allow_failed_loads=True,  # the 502s of requests cut by the kill
            url=healed.url,
            files=[str(tmp_path / "photo.raw")],
            query={"chunkSize": MiB, "retryDelay": 100},
            throttle=24_000_000,  # the upload must outlast the wait for every node's first ack
        )

    result, kill, start = kill_during(healed, upload)
    [row] = result["rows"]
    assert row["state"] == "done", row
    assert row["retries"] > 0, "the kill cut at least one of the page's requests"
    check_ledger(healed, start, kill, len(data), counters)
    assert httpx.get(row["fileUrl"], timeout=60).content == data
