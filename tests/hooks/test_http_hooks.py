"""HTTP hooks against a real receiver process: every event on each protocol, the request
and record they carry, their signature, and each way a blocking hook can say no."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.tus_cases import DRAFT, TUS
from tests.hooks.conftest import Receiver
from tests.server_process import ServerProcess
from tests.taskflow import create, put_chunk, random_bytes
from upslice.hooks import EVENTS

SECRET = "hook-secret"
BLOCKING_ORDER = ["pre-create", "pre-finish", "pre-terminate"]
POST_ORDER = ["post-create", "post-receive", "post-finish", "post-terminate"]


@pytest.fixture(scope="module")
def server(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path_factory.mktemp("hooked") / "data",
        "--min-chunk-size", "1024",
        "--hooks-url", f"{receiver.url}/hook",
        "--hooks-secret", SECRET,
        "--hooks-events", ",".join(EVENTS),
        "--hooks-timeout", "1",
    ).start()  # fmt: skip
    yield proc
    proc.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    headers = {"Authorization": "Bearer never-shown-to-hooks"}
    with httpx.Client(base_url=server.url, timeout=30, headers=headers) as http:
        yield http


def in_order(names: list[str], expected: list[str]) -> bool:
    seen = [n for n in names if n in expected]
    return sorted(set(seen), key=seen.index) == expected


def upload_task(client: httpx.Client, name: str, data: bytes) -> tuple[str, httpx.Response]:
    """The task's id, and the answer to its last chunk."""
    task = create(client, data, 1024, name=name).json()
    last = None
    for index in range(task["chunkCount"]):
        last = put_chunk(client, task, index, data[index * 1024 : (index + 1) * 1024])
    assert last is not None
    return task["id"], last


def test_tasks_fire_every_event_signed_and_without_credentials(
    client: httpx.Client, receiver: Receiver
) -> None:
    data = random_bytes(2500)
    task_id, done = upload_task(client, "tasks.bin", data)
    assert done.status_code == 200 and done.json()["done"] is True
    assert client.get(f"/api/task/{task_id}/file").content == data
    assert client.delete(f"/api/task/{task_id}").status_code == 204
    receiver.wait_for_event(task_id, "post-terminate")
    names = receiver.names(task_id)
    assert in_order(names, BLOCKING_ORDER) and in_order(names, POST_ORDER), names
    assert names.count("pre-access") >= 5  # three chunks, the download, the delete
    finish = receiver.wait_for_event(task_id, "post-finish")
    assert finish["upload"]["hash"] == hashlib.md5(data).hexdigest()
    assert finish["location"].endswith(f"/api/task/{task_id}/file")
    assert finish["upload"]["state"] == "complete" and finish["upload"]["size"] == 2500
    for record in receiver.records():
        event = record["event"]
        request = event["request"]
        if request is not None:
            assert "authorization" not in request["headers"]
        stamp, mac = record["headers"]["upslice-signature"].split(",")
        signed = f"{stamp.removeprefix('t=')}.{record['body']}".encode()
        expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert mac == f"sha256={expected}"
        assert record["headers"]["upslice-event-id"] == event["id"]
    ids = [r["event"]["id"] for r in receiver.records()]
    assert len(ids) == len(set(ids))


def test_tus_fires_every_event(client: httpx.Client, receiver: Receiver) -> None:
    data = random_bytes(3000)
    name = base64.b64encode(b"tus.bin").decode()
    created = client.post(
        "/files/", headers={**TUS, "Upload-Length": "3000", "Upload-Metadata": f"filename {name}"}
    )
    assert created.status_code == 201
    url = created.headers["Location"]
    patch = {**TUS, "Content-Type": "application/offset+octet-stream"}
    assert client.patch(url, headers={**patch, "Upload-Offset": "0"}, content=data[:1000])
    last = client.patch(url, headers={**patch, "Upload-Offset": "1000"}, content=data[1000:])
    assert last.status_code == 204
    assert client.head(url, headers=TUS).headers["Upload-Offset"] == "3000"
    assert client.delete(url, headers=TUS).status_code == 204
    upload_id = url.rstrip("/").rsplit("/", 1)[-1]
    receiver.wait_for_event(upload_id, "post-terminate")
    names = receiver.names(upload_id)
    assert in_order(names, BLOCKING_ORDER) and in_order(names, POST_ORDER), names
    created_event = next(e for e in receiver.events(upload_id) if e["type"] == "post-create")
    assert created_event["upload"]["fileName"] == "tus.bin"
    assert created_event["request"]["method"] == "POST"


def test_ietf_draft_fires_every_event(client: httpx.Client, receiver: Receiver) -> None:
    data = random_bytes(2000)
    headers = {
        **DRAFT,
        "Upload-Complete": "?1",
        "Content-Disposition": 'attachment; filename="draft.bin"',
    }
    created = client.post("/files/", headers=headers, content=data)
    assert created.status_code == 201, created.text
    url = created.headers["Location"]
    assert client.delete(url, headers=DRAFT).status_code == 204
    upload_id = url.rstrip("/").rsplit("/", 1)[-1]
    receiver.wait_for_event(upload_id, "post-terminate")
    names = receiver.names(upload_id)
    assert in_order(names, BLOCKING_ORDER) and in_order(names, POST_ORDER), names
    assert receiver.wait_for_event(upload_id, "post-create")["upload"]["protocol"] == "ietf"


def test_pre_create_refuses_or_changes_the_upload(client: httpx.Client) -> None:
    data = random_bytes(1500)
    refused = create(client, data, 1024, name="refuse-pre-create.bin")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "no pre-create for refuse-pre-create.bin"
    name = base64.b64encode(b"refuse-pre-create.tus").decode()
    tus = client.post(
        "/files/", headers={**TUS, "Upload-Length": "10", "Upload-Metadata": f"filename {name}"}
    )
    assert tus.status_code == 403 and "no pre-create" in tus.json()["error"]["message"]
    renamed = create(client, data, 1024, name="rename-me.bin").json()
    assert renamed["fileName"] == "renamed.bin" and renamed["metadata"] == {"by": "hook"}


def test_pre_finish_refusal_fails_the_upload_and_keeps_its_bytes(
    client: httpx.Client, receiver: Receiver
) -> None:
    data = random_bytes(2048)
    task_id, last = upload_task(client, "refuse-pre-finish.bin", data)
    assert last.status_code == 403
    assert last.json()["error"]["message"] == "no pre-finish for refuse-pre-finish.bin"
    task = client.get(f"/api/task/{task_id}").json()
    assert task["state"] == "failed" and task["done"] is False
    assert task["uploadedBytes"] == 2048 and task["receivedChunks"] == [0, 1]
    assert "post-finish" not in receiver.names(task_id)


def test_pre_terminate_refusal_keeps_the_upload(client: httpx.Client) -> None:
    task = create(client, random_bytes(1500), 1024, name="refuse-pre-terminate.bin").json()
    refused = client.delete(f"/api/task/{task['id']}")
    assert refused.status_code == 403
    assert client.get(f"/api/task/{task['id']}").status_code == 200


def test_pre_access_refuses_or_names_the_owner(client: httpx.Client) -> None:
    denied = client.get("/api/tasks", headers={"x-hook-deny": "1"})
    assert denied.status_code == 401 and denied.json()["error"]["message"] == "denied by the app"
    alice = {"x-hook-user": "alice"}
    with httpx.Client(base_url=client.base_url, headers=alice) as as_alice:
        task_id = create(as_alice, b"x" * 1500, 1024).json()["id"]
    assert client.get(f"/api/task/{task_id}").status_code == 404  # anonymous: not theirs
    assert client.get(f"/api/task/{task_id}", headers=alice).status_code == 200


def test_a_failing_or_silent_blocking_hook_refuses(client: httpx.Client) -> None:
    failed = create(client, random_bytes(1500), 1024, name="fail-pre-create.bin")
    assert failed.status_code == 502 and failed.json()["error"]["code"] == "hook_failed"
    slow = create(client, random_bytes(1500), 1024, name="slow-pre-create.bin")
    assert slow.status_code == 503 and slow.json()["error"]["code"] == "hook_timeout"
    assert "within 1 s" in slow.json()["error"]["message"]


def test_post_receive_is_throttled_per_upload(client: httpx.Client, receiver: Receiver) -> None:
    data = random_bytes(20 * 1024)
    task = create(client, data, 1024, name="progress.bin").json()
    started = time.monotonic()
    for index in range(20):
        put_chunk(client, task, index, data[index * 1024 : (index + 1) * 1024])
    elapsed = time.monotonic() - started
    receiver.wait_for_event(task["id"], "post-finish")
    progress = receiver.names(task["id"]).count("post-receive")
    assert 1 <= progress <= int(elapsed) + 2  # at most one per second (and a first one)
