"""The outbox: events wait in the MetaStore while the receiver is down, and arrive once it is
back, in order per upload, each under one id; with two workers sharing the delivery."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import httpx
import pytest

from tests.hooks.conftest import Receiver, wait_for
from tests.server_process import ServerProcess
from tests.taskflow import create, put_chunk, random_bytes

POST_EVENTS = "post-create,post-receive,post-finish,post-terminate,post-expire"


@pytest.fixture(scope="module")
def server(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path_factory.mktemp("outbox") / "data",
        "--min-chunk-size",
        "1024",
        "--hooks-url",
        f"{receiver.url}/hook",
        "--hooks-events",
        POST_EVENTS,
        "--expiry-seconds",
        "3",
        "--sweep-interval-seconds",
        "0.5",
        workers=2,
    ).start(timeout=90)  # fmt: skip  (two workers import everything twice: slow under load)
    yield proc
    proc.stop()


def outbox(server: ServerProcess) -> list[tuple[str, int]]:
    with sqlite3.connect(server.data_dir / "upslice.db") as db:
        return db.execute("SELECT name, attempts FROM hook_outbox ORDER BY seq").fetchall()


def test_events_wait_while_the_receiver_is_down_then_drain_in_order(
    server: ServerProcess, receiver: Receiver
) -> None:
    receiver.stop()
    ids = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for n in range(3):
            data = random_bytes(2048 + n)
            task = create(client, data, 1024, name=f"down-{n}.bin").json()
            for index in range(task["chunkCount"]):
                chunk = data[index * 1024 : (index + 1) * 1024]
                assert put_chunk(client, task, index, chunk).status_code == 200
            ids.append(task["id"])
        assert client.delete(f"/api/task/{ids[0]}").status_code == 204
    wait_for(lambda: any(attempts >= 2 for _, attempts in outbox(server)), "failed attempts")
    assert {name for name, _ in outbox(server)} >= {"post-create", "post-finish"}

    receiver.start()  # back on the same port
    for upload_id in ids:
        receiver.wait_for_event(upload_id, "post-finish", timeout=30)
    receiver.wait_for_event(ids[0], "post-terminate", timeout=30)
    wait_for(lambda: not outbox(server), "the outbox to drain")
    bodies: dict[str, str] = {}
    for record in receiver.records():  # at least once: a repeat is the same event
        assert bodies.setdefault(record["event"]["id"], record["body"]) == record["body"]
    for upload_id in ids:
        names: list[str] = []
        for event in receiver.events(upload_id):
            if not names or names[-1] != event["type"]:
                names.append(event["type"])
        expected = ["post-create", "post-receive", "post-finish"]
        if upload_id == ids[0]:
            expected.append("post-terminate")
        assert names == expected, names


def test_an_expired_upload_is_announced(server: ServerProcess, receiver: Receiver) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        task = create(client, random_bytes(3000), 1024, name="abandoned.bin").json()
    expired = receiver.wait_for_event(task["id"], "post-expire", timeout=30)
    assert expired["upload"]["fileName"] == "abandoned.bin"
    assert expired["request"] is None  # the sweeper, not a request, removed it
