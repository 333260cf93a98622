"""The application as users meet it: docs, health, settings, and mounting into a host app."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import httpx

from tests.host_app import HostApp
from tests.server_process import ServerProcess
from tests.taskflow import create, put_chunk, random_bytes
from tests.waiting import wait_past


def test_openapi_documents_the_tasks_api(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/task",
        "/api/task/{task_id}",
        "/api/task/{task_id}/chunk/{index}",
        "/api/task/{task_id}/complete",
        "/api/task/{task_id}/proof",
        "/api/task/{task_id}/file",
        "/api/tasks",
    ):
        assert path in paths, path
    chunk = paths["/api/task/{task_id}/chunk/{index}"]["put"]
    assert "application/octet-stream" in chunk["requestBody"]["content"]
    assert {"409", "413", "415", "422", "507"} <= set(chunk["responses"])
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_openapi_builds_without_a_warning_and_every_operation_id_is_unique(
    tmp_path: Path,
) -> None:
    """FastAPI only warns about a duplicated operation id, and generated clients then collide;
    a route that answers GET and HEAD under one id did that."""
    from upslice.app import create_app
    from upslice.settings import Settings

    app = create_app(Settings(data_dir=tmp_path / "data"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = app.openapi()
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    file_path = spec["paths"]["/api/task/{task_id}/file"]
    assert (file_path["get"]["operationId"], file_path["head"]["operationId"]) == (
        "downloadTaskFile",
        "headTaskFile",
    )


def test_environment_variables_configure_the_server(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "data",
        env={"UPSLICE_MAX_FILE_SIZE": "1000", "UPSLICE_MIN_CHUNK_SIZE": "100"},
    ).start()
    try:
        with httpx.Client(base_url=server.url) as http:
            assert create(http, random_bytes(1001), 100).status_code == 413
            task = create(http, random_bytes(1000), 1).json()
            assert task["chunkSize"] == 100  # clamped up to the minimum
    finally:
        server.stop()
    assert (tmp_path / "data" / "upslice.db").exists()


def test_flags_override_environment(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "data", "--max-file-size", "5000", env={"UPSLICE_MAX_FILE_SIZE": "10"}
    ).start()
    try:
        with httpx.Client(base_url=server.url) as http:
            assert create(http, random_bytes(4000), 1024).status_code == 201
    finally:
        server.stop()


def test_mounted_into_a_host_fastapi_app(host: HostApp) -> None:
    base = host.base
    alice = {"x-user": "alice"}
    with host.client("alice") as http:
        data = random_bytes(3000)
        task = create(http, data, 1024).json()
        for index in range(3):
            reply = put_chunk(http, task, index, data[index * 1024 : (index + 1) * 1024])
        url = reply.json()["fileUrl"]
        assert url.startswith(base + "/uploads/api/task/")
        assert httpx.get(url, headers=alice).content == data
        assert [t["id"] for t in http.get("/api/tasks").json()["tasks"]] == [task["id"]]
    with host.client("bob") as other:
        assert other.get(f"/api/task/{task['id']}").status_code == 404  # not bob's
        assert other.get(url).status_code == 404
        assert other.delete(f"/api/task/{task['id']}").status_code == 404
        assert other.get("/api/tasks").json()["tasks"] == []
    assert httpx.get(base + "/").json() == {"app": "host"}


def test_expired_uploads_are_swept_by_the_server(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "data",
        "--min-chunk-size", "1024", "--expiry-seconds", "1", "--sweep-interval-seconds", "0.2",
    ).start()  # fmt: skip
    try:
        with httpx.Client(base_url=server.url) as http:
            data = random_bytes(4096)
            task = create(http, data, 1024).json()
            put_chunk(http, task, 0, data[:1024])
            partial = tmp_path / "data" / "partial" / task["id"]
            assert partial.exists()
            deadline = time.monotonic() + 10
            while http.get(f"/api/task/{task['id']}").status_code == 200:
                assert time.monotonic() < deadline, "never swept"
                time.sleep(0.2)
            assert not partial.exists()
            assert http.get(f"/api/task/{task['id']}").json()["error"]["code"] == "not_found"
    finally:
        server.stop()


def test_chunks_for_an_expired_task_are_refused_with_410(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "data",
        "--min-chunk-size", "1024", "--expiry-seconds", "0.5", "--sweep-interval-seconds", "3600",
    ).start()  # fmt: skip
    try:
        with httpx.Client(base_url=server.url) as http:
            data = random_bytes(2048)
            task = create(http, data, 1024).json()
            wait_past(task["expiresAt"], "the task's expiry")
            reply = put_chunk(http, task, 0, data[:1024])
            assert reply.status_code == 410 and reply.json()["error"]["code"] == "gone"
            again = create(http, data, 1024)  # the client starts over with a fresh task
            assert again.status_code == 201 and again.json()["id"] != task["id"]
    finally:
        server.stop()
