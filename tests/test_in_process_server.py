"""`UPSLICE_TEST_SERVER=thread`, the in-process server mutation runs rely on, keeps working."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from tests.host_app import HostApp
from tests.server_process import ServerProcess
from tests.taskflow import create, put_chunk, random_bytes


def test_a_threaded_server_serves_logs_and_restarts_on_its_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSLICE_TEST_SERVER", "thread")
    server = ServerProcess(tmp_path / "data", "--min-chunk-size", "1024").start()
    try:
        assert server.proc is None and server.in_process is not None
        assert server.in_process.serving.thread is not threading.current_thread()
        data = random_bytes(3000)
        with httpx.Client(base_url=server.url, timeout=30) as http:
            task = create(http, data, chunk_size=1024).json()
            assert put_chunk(http, task, 0, data[:1024]).status_code == 200
            port = server.port
            server.restart()
            assert server.port == port
            assert http.get(f"/api/task/{task['id']}").json()["receivedChunks"] == [0]
        assert f"PUT /api/task/{task['id']}/chunk/0 200" in server.log()
    finally:
        server.stop()
    assert server.in_process is None


def test_what_needs_a_process_is_skipped_not_run_on_the_test_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSLICE_TEST_SERVER", "thread")
    server = ServerProcess(tmp_path / "data").start()
    try:
        with pytest.raises(pytest.skip.Exception):
            server.worker_pids()
    finally:
        server.stop()


def test_the_host_app_is_built_and_served_in_process_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSLICE_TEST_SERVER", "thread")
    host = HostApp(tmp_path).start()
    try:
        assert host.proc is None
        with host.client("ann") as http:
            assert http.get("/health").status_code == 200
        assert httpx.get(host.base + "/").json() == {"app": "host"}
    finally:
        host.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(host.base + "/", timeout=2)
