"""The failover tests again, with the bytes in S3 (moto's server) instead of a shared directory.

Three nodes on PostgreSQL behind nginx, `--store s3://...`; one node is SIGKILLed while chunks
run. Every upload must finish byte-identical through the others, with each multipart upload
completed and nothing left behind: no open multipart upload, no incomplete-part object.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from tusclient import client as tus_client

from tests.browser.test_demo import run_scenario
from tests.cluster.conftest import DATABASE
from tests.cluster.harness import Cluster
from tests.cluster.test_failover import check_ledger, kill_during, write_random
from tests.s3_server import CREDENTIALS, MotoServer
from tests.stores.test_s3_server import leftovers
from upslice import AsyncClient
from upslice.client.retry import RetryPolicy

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def s3_cluster(moto_s3: MotoServer) -> Iterator[tuple[Cluster, str]]:
    for name, value in CREDENTIALS.items():  # the nodes inherit them through the script
        os.environ.setdefault(name, value)
    bucket = moto_s3.new_bucket()
    base = Path(tempfile.mkdtemp(prefix="upslice-s3-cluster-"))
    running = Cluster(
        base, "--nodes", "3", "--workers", "1", "--database", DATABASE,
        "--store", f"s3://{bucket}/uploads",
        f"--serve-arg=--s3-endpoint={moto_s3.url}", "--serve-arg=--s3-path-style",
        "--serve-arg=--s3-hash-wait-seconds=3",
    )  # fmt: skip
    try:
        yield running.up(), bucket
    finally:
        running.down()
        if not os.environ.get("UPSLICE_KEEP_CLUSTER"):
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def healed(s3_cluster: tuple[Cluster, str]) -> Cluster:
    return s3_cluster[0].up()


def assert_nothing_left(moto: MotoServer, s3_cluster: tuple[Cluster, str]) -> None:
    assert leftovers(moto, s3_cluster[1]) == {"multipart": [], "pending": []}


def test_tasks_api_four_streams(
    healed: Cluster, moto_s3: MotoServer, s3_cluster: tuple[Cluster, str], tmp_path: Path
) -> None:
    data = write_random(tmp_path / "video.bin", 48 * MiB)
    counters = healed.counters()

    async def upload() -> str:
        retry = RetryPolicy(attempts=10, base=0.2, cap=2.0)
        async with AsyncClient(healed.url, retry=retry, timeout=120) as client:
            task = await client.upload(tmp_path / "video.bin", concurrency=4, chunk_size=5 * MiB)
            return task.id

    task_id, kill, start = kill_during(healed, lambda: asyncio.run(upload()))
    check_ledger(healed, start, kill, len(data), counters)
    file = httpx.get(f"{healed.url}/api/task/{task_id}/file", timeout=60)
    assert file.status_code == 200 and file.content == data
    assert_nothing_left(moto_s3, s3_cluster)


def test_tuspy_appends_below_the_part_size(
    healed: Cluster, moto_s3: MotoServer, s3_cluster: tuple[Cluster, str], tmp_path: Path
) -> None:
    data = write_random(tmp_path / "dataset.bin", 24 * MiB)
    counters = healed.counters()
    uploader = tus_client.TusClient(f"{healed.url}/files/").uploader(
        file_path=str(tmp_path / "dataset.bin"),
        chunk_size=MiB,  # each PATCH is a fifth of an S3 part: tails live in incomplete parts
        metadata={"filename": "dataset.bin"},
        retries=10,
        retry_delay=1,
    )
    _, kill, start = kill_during(healed, uploader.upload)
    assert uploader.offset == len(data)
    check_ledger(healed, start, kill, len(data), counters)
    upload_id = cast(str, uploader.url).rstrip("/").rsplit("/", 1)[1]
    assert httpx.get(f"{healed.url}/files/{upload_id}", timeout=60).content == data
    assert_nothing_left(moto_s3, s3_cluster)


def test_browser_client_in_chromium(
    healed: Cluster, moto_s3: MotoServer, s3_cluster: tuple[Cluster, str], tmp_path: Path
) -> None:
    data = write_random(tmp_path / "photo.raw", 32 * MiB)
    counters = healed.counters()

    def upload() -> dict[str, Any]:
        return run_scenario(
            "upload.mjs",
            allow_failed_loads=True,  # the 502s of requests cut by the kill
            url=healed.url,
            files=[str(tmp_path / "photo.raw")],
            query={"chunkSize": 5 * MiB, "retryDelay": 100},
            # 7 chunks of 5 MiB (S3's part size): at 24 MB/s a loaded machine once finished
            # them before a process could be killed mid-request; 8 MB/s gives the kill ~4 s
            throttle=8_000_000,
        )

    result, kill, start = kill_during(healed, upload)
    [row] = result["rows"]
    assert row["state"] == "done", row
    check_ledger(healed, start, kill, len(data), counters)
    assert httpx.get(row["fileUrl"], timeout=60).content == data
    assert_nothing_left(moto_s3, s3_cluster)
