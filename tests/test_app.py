"""The application as users meet it: docs, health, settings, and mounting into a host app."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

from tests.server_process import ServerProcess, free_port
from tests.taskflow import create, put_chunk, random_bytes


def test_openapi_documents_the_tasks_api(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/task",
        "/api/task/{task_id}",
        "/api/task/{task_id}/chunk/{index}",
        "/api/task/{task_id}/complete",
        "/api/task/{task_id}/file",
        "/api/tasks",
    ):
        assert path in paths, path
    chunk = paths["/api/task/{task_id}/chunk/{index}"]["put"]
    assert "application/octet-stream" in chunk["requestBody"]["content"]
    assert {"409", "413", "415", "422", "507"} <= set(chunk["responses"])
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


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


HOST_APP = textwrap.dedent(
    """
    import sys
    import uvicorn
    from fastapi import FastAPI
    from upslice import Settings, create_app

    async def identify(request):
        return request.headers.get("x-user")

    uploads = create_app(Settings(data_dir=sys.argv[2], min_chunk_size=1024), identify=identify)
    app = FastAPI(lifespan=uploads.router.lifespan_context)

    @app.get("/")
    async def home() -> dict[str, str]:
        return {"app": "host"}

    app.mount("/uploads", uploads)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    """
)


def test_mounted_into_a_host_fastapi_app(tmp_path: Path) -> None:
    port = free_port()
    script = tmp_path / "host.py"
    script.write_text(HOST_APP)
    proc = subprocess.Popen([sys.executable, str(script), str(port), str(tmp_path / "d")])
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(base + "/")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        alice = {"x-user": "alice"}
        with httpx.Client(base_url=base + "/uploads", headers=alice) as http:
            data = random_bytes(3000)
            task = create(http, data, 1024).json()
            for index in range(3):
                reply = put_chunk(http, task, index, data[index * 1024 : (index + 1) * 1024])
            url = reply.json()["fileUrl"]
            assert url.startswith(base + "/uploads/api/task/")
            assert httpx.get(url, headers=alice).content == data
            assert [t["id"] for t in http.get("/api/tasks").json()["tasks"]] == [task["id"]]
        with httpx.Client(base_url=base + "/uploads", headers={"x-user": "bob"}) as other:
            assert other.get(f"/api/task/{task['id']}").status_code == 404  # not bob's
            assert other.get(url).status_code == 404
            assert other.delete(f"/api/task/{task['id']}").status_code == 404
            assert other.get("/api/tasks").json()["tasks"] == []
        assert httpx.get(base + "/").json() == {"app": "host"}
    finally:
        proc.terminate()
        proc.wait(10)


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
            time.sleep(0.7)
            reply = put_chunk(http, task, 0, data[:1024])
            assert reply.status_code == 410 and reply.json()["error"]["code"] == "gone"
            again = create(http, data, 1024)  # the client starts over with a fresh task
            assert again.status_code == 201 and again.json()["id"] != task["id"]
    finally:
        server.stop()
