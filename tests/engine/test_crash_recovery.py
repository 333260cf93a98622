"""A server killed at each step of completion comes back and finishes the upload.

The process SIGKILLs itself at a named crash point (UPSLICE_CRASH_AT) while completing; a
restarted server must end the task `done` with the right bytes and hash, on its own (startup
recovery) and at once (the dead process's lease is recognised as dead), with no chunk lost.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.server_process import ServerProcess
from tests.taskflow import chunk_of, create, md5_hex, put_chunk, random_bytes
from upslice.crashpoints import POINTS

CHUNK = 256 * 1024


@pytest.mark.parametrize("point", POINTS)
def test_a_crash_at_each_completion_step_is_recovered(tmp_path: Path, point: str) -> None:
    server = ServerProcess(
        tmp_path / "data", "--min-chunk-size", "1024", env={"UPSLICE_CRASH_AT": point}
    ).start()
    try:
        data = random_bytes(6 * CHUNK + 77)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            task = create(client, data, CHUNK).json()
            for index in range(task["chunkCount"] - 1):
                assert put_chunk(client, task, index, chunk_of(data, task, index)).is_success
            last = task["chunkCount"] - 1
            with pytest.raises(httpx.TransportError):  # the server dies answering it
                put_chunk(client, task, last, chunk_of(data, task, last))
        assert server.proc is not None and server.proc.wait(20) != 0
        server.env = {}
        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            deadline = time.monotonic() + 20
            status = client.get(f"/api/task/{task['id']}").json()
            while not status["done"] and time.monotonic() < deadline:
                time.sleep(0.05)  # polling for the condition: startup recovery finishes it
                status = client.get(f"/api/task/{task['id']}").json()
            assert status["done"], status
            assert status["hash"] == md5_hex(data)
            assert status["receivedChunks"] == list(range(task["chunkCount"]))
            completed = client.post(f"/api/task/{task['id']}/complete")
            assert completed.status_code == 200 and completed.json()["done"]
            download = client.get(status["fileUrl"])
            assert download.status_code == 200 and download.content == data
        assert not (server.data_dir / "partial" / task["id"]).exists()
    finally:
        server.stop()


def test_completion_after_a_crash_is_taken_over_at_once_without_recovery(tmp_path: Path) -> None:
    """POST /complete right after the restart succeeds at once (by taking over the dead
    attempt, or because startup recovery already did): never 409, never the old 5-minute wait."""
    args = ("--min-chunk-size", "1024", "--sweep-interval-seconds", "3600")
    server = ServerProcess(
        tmp_path / "data", *args, env={"UPSLICE_CRASH_AT": "complete:hashed"}
    ).start()
    try:
        data = random_bytes(2 * CHUNK)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            task = create(client, data, CHUNK).json()
            assert put_chunk(client, task, 0, chunk_of(data, task, 0)).is_success
            with pytest.raises(httpx.TransportError):
                put_chunk(client, task, 1, chunk_of(data, task, 1))
        server.env = {}
        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            started = time.monotonic()
            completed = client.post(f"/api/task/{task['id']}/complete")
            assert completed.status_code == 200, completed.text
            assert completed.json()["done"] and completed.json()["hash"] == md5_hex(data)
            assert time.monotonic() - started < 5  # never the old 5-minute wait
    finally:
        server.stop()
