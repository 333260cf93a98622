"""`/metrics` scraped from real servers during and after uploads: the counters move by exactly
what was done, with one worker and with two (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.tus_cases import OCTETS, TUS
from tests.server_process import ServerProcess
from tests.threaded_server import threaded_server
from upslice.app import create_app
from upslice.settings import Settings

CHUNK = 1024
CHUNK_ROUTE = "/api/task/{task_id}/chunk/{index}"


def scrape(url: str, **headers: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample as {(name, labels): value}."""
    response = httpx.get(f"{url}/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """The sum of `name` over samples whose labels include `labels` (0 when absent)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def create_task(client: httpx.Client, data: bytes) -> dict[str, object]:
    body = {"hash": hashlib.md5(data).hexdigest(), "fileName": "m.bin", "fileSize": len(data),
            "chunkSize": CHUNK}  # fmt: skip
    response = client.post("/api/task", json=body)
    assert response.status_code == 201, response.text
    task: dict[str, object] = response.json()
    return task


@pytest.fixture(scope="module")
def one(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("one") / "data", "--min-chunk-size", "1024")
    yield proc.start()
    proc.stop()


def test_counters_move_during_and_after_a_tasks_upload(one: ServerProcess) -> None:
    data = bytes(range(256)) * 12  # 3 chunks of 1 KiB
    before = scrape(one.url)
    with httpx.Client(base_url=one.url) as client:
        task = create_task(client, data)
        client.put(f"/api/task/{task['id']}/chunk/0", content=data[:CHUNK]).raise_for_status()
        during = scrape(one.url)
        for index in (1, 2):
            chunk = data[index * CHUNK : (index + 1) * CHUNK]
            client.put(f"/api/task/{task['id']}/chunk/{index}", content=chunk).raise_for_status()
    after = scrape(one.url)

    def moved(
        samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
    ) -> float:
        return value(samples, name, **labels) - value(before, name, **labels)

    assert moved(during, "upslice_uploads_created_total", protocol="tasks") == 1
    assert moved(during, "upslice_bytes_received_total", protocol="tasks") == CHUNK
    assert moved(during, "upslice_uploads_completed_total", protocol="tasks") == 0
    assert moved(after, "upslice_bytes_received_total", protocol="tasks") == len(data)
    assert moved(after, "upslice_uploads_completed_total", protocol="tasks") == 1
    puts = dict(method="PUT", route=CHUNK_ROUTE, status="200")
    assert moved(after, "upslice_request_duration_seconds_count", **puts) == 3
    assert moved(after, "upslice_request_duration_seconds_bucket", le="+Inf", **puts) == 3
    assert value(after, "upslice_chunk_requests_in_flight") == 0


def test_tus_failed_and_in_flight(one: ServerProcess) -> None:
    before = scrape(one.url)
    with httpx.Client(base_url=one.url, timeout=30) as client:
        url = client.post("/files/", headers=TUS | {"Upload-Length": "5"}).headers["Location"]
        client.patch(url, headers=OCTETS | {"Upload-Offset": "0"}, content=b"hello")
        wrong = {"hash": "0" * 32, "fileName": "bad.bin", "fileSize": 4, "chunkSize": CHUNK}
        bad = client.post("/api/task", json=wrong).json()
        refused = client.put(f"/api/task/{bad['id']}/chunk/0", content=b"oops")
        assert refused.status_code == 422, refused.text

        release = threading.Event()

        def slow_body() -> Iterator[bytes]:
            yield b"x" * 512
            release.wait(30)
            yield b"x" * 512

        slow = create_task(client, b"x" * CHUNK)
        sender = threading.Thread(
            target=lambda: httpx.put(
                f"{one.url}/api/task/{slow['id']}/chunk/0", content=slow_body(), timeout=30
            )
        )
        sender.start()
        deadline = time.monotonic() + 20
        while value(scrape(one.url), "upslice_chunk_requests_in_flight") != 1:
            assert time.monotonic() < deadline, "the slow chunk never showed as in flight"
            time.sleep(0.05)
        release.set()
        sender.join(30)
    after = scrape(one.url)
    assert value(after, "upslice_chunk_requests_in_flight") == 0
    for name, protocol, count in (
        ("upslice_uploads_created_total", "tus", 1),
        ("upslice_uploads_completed_total", "tus", 1),
        ("upslice_bytes_received_total", "tus", 5),
        ("upslice_uploads_failed_total", "tasks", 1),
        ("upslice_uploads_completed_total", "tasks", 1),
    ):
        got = value(after, name, protocol=protocol) - value(before, name, protocol=protocol)
        assert got == count, (name, protocol, got)
    assert value(after, "upslice_hash_lag_bytes") == 0


def test_two_workers_sum_in_one_scrape_and_expiry_counts(tmp_path: Path) -> None:
    """Chunks land on both workers (seen in the JSON log's pids); any scrape sums them all,
    here on the separate --metrics-listen address, which the supervisor serves."""
    proc = ServerProcess(
        tmp_path / "data", "--min-chunk-size", "1024", "--log-format", "json",
        "--metrics-listen", "127.0.0.1:0", "--expiry-seconds", "5",
        "--sweep-interval-seconds", "0.2", workers=2,
    ).start()  # fmt: skip
    found = re.search(r"metrics on (http://127\.0\.0\.1:\d+)/metrics", proc.log())
    assert found, proc.log()  # logged before the workers start, so before the ready file
    metrics_url = found[1]
    try:
        assert httpx.get(f"{proc.url}/metrics").status_code == 404  # not on the main port
        sent = 0
        pids: set[int] = set()
        deadline = time.monotonic() + 60

        def upload(number: int) -> str:
            data = number.to_bytes(4, "big") * (CHUNK // 4)
            with httpx.Client(base_url=proc.url) as client:
                task = create_task(client, data)
            response = httpx.put(f"{proc.url}/api/task/{task['id']}/chunk/0", content=data)
            assert response.json()["done"], response.text
            return response.headers["x-request-id"]

        # Fresh connections, several at once: both workers wait on the shared socket and the
        # first to wake takes a connection, so one after another they may all go to the
        # worker that just answered (seen once in CI); a worker busy with the others is not
        # the first to wake.
        with ThreadPoolExecutor(8) as pool:
            while len(pids) < 2:
                assert time.monotonic() < deadline, "every chunk went to one worker"
                rids = set(pool.map(upload, range(sent, sent + 8)))
                sent += 8
                entries = log_entries(proc)
                pids |= {int(str(e["pid"])) for e in entries if e.get("request_id") in rids}
        samples = scrape(metrics_url)
        assert value(samples, "upslice_bytes_received_total", protocol="tasks") == sent * CHUNK
        assert value(samples, "upslice_uploads_completed_total", protocol="tasks") == sent
        assert value(samples, "upslice_request_duration_seconds_count", route=CHUNK_ROUTE) == sent
        with httpx.Client(base_url=proc.url) as client:
            create_task(client, b"never sent" * 200)
        deadline = time.monotonic() + 30
        while value(scrape(metrics_url), "upslice_uploads_expired_total", protocol="tasks") != 1:
            assert time.monotonic() < deadline, "the unfinished task did not expire"
            time.sleep(0.2)
    finally:
        proc.stop()


def log_entries(proc: ServerProcess) -> list[dict[str, object]]:
    lines = [line for line in proc.log().splitlines() if line.startswith("{")]
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize(
    ("token", "sent", "status"),
    [(None, None, 404), ("s3cret", None, 401), ("s3cret", "Bearer wrong", 401),
     ("s3cret", "Bearer s3cret", 200)],
)  # fmt: skip
def test_off_loopback_metrics_need_the_token(
    tmp_path: Path, token: str | None, sent: str | None, status: int
) -> None:
    settings = Settings(host="0.0.0.0", data_dir=tmp_path / "data", metrics_token=token)
    with threaded_server(create_app(settings), host="0.0.0.0") as url:
        headers = {"Authorization": sent} if sent else {}
        response = httpx.get(f"{url}/metrics", headers=headers)
    assert response.status_code == status, response.text
    if status == 401:
        assert "metrics-token" in response.json()["error"]["message"]
    if status == 200:
        assert "upslice_request_duration_seconds" in response.text
