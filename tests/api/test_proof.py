"""Proof of possession over the tasks API: across owners a hash alone never yields a file.

Runs against README's mounted app (identify = the `x-user` header), so that alice, bob and the
anonymous caller are different owners.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from tests.host_app import HostApp
from tests.taskflow import create, put_chunk, random_bytes

CHUNK = 64 * 1024
SIZE = 5 * CHUNK + 123  # over 256 KiB: the challenge is 4 random ranges of 64 KiB


def proof(data: bytes, challenge: dict[str, Any]) -> str:
    """The client's side, written out independently of the server's code."""
    parts = b"".join(data[start:end] for start, end in challenge["ranges"])
    return hashlib.sha256(bytes.fromhex(challenge["nonce"]) + parts).hexdigest()


def upload(http: httpx.Client, data: bytes) -> dict[str, Any]:
    task = create(http, data, CHUNK).json()
    for index in range(task["chunkCount"]):
        reply = put_chunk(http, task, index, data[index * CHUNK : (index + 1) * CHUNK])
    finished: dict[str, Any] = reply.json()
    assert finished["done"], finished
    return finished


def prove(http: httpx.Client, task: dict[str, Any], answer: str) -> httpx.Response:
    return http.post(f"/api/task/{task['id']}/proof", json={"proof": answer})


def test_a_hash_alone_gets_nothing_and_every_wrong_proof_looks_like_a_miss(host: HostApp) -> None:
    data = random_bytes(SIZE)
    with host.client("alice") as alice, host.client("bob") as bob:
        original = upload(alice, data)
        reply = create(bob, data, CHUNK)
        assert reply.status_code == 201
        task = reply.json()
        assert not task["done"] and not task["instant"] and task["uploadedBytes"] == 0
        challenge = task["challenge"]
        assert len(challenge["nonce"]) == 32 and challenge["algorithm"] == "sha256"
        assert len(challenge["ranges"]) == 4
        assert all(end - start == CHUNK for start, end in challenge["ranges"])
        assert bob.get(f"/api/task/{task['id']}/file").status_code == 409  # nothing to read
        assert bob.get(f"/api/task/{original['id']}/file").status_code == 404

        wrong = prove(bob, task, "0" * 64)
        assert wrong.status_code == 200
        assert not wrong.json()["done"] and wrong.json()["challenge"] != challenge
        right_for_used = proof(data, challenge)  # the first challenge is used up: a replay
        replayed = prove(bob, task, right_for_used)
        assert replayed.status_code == 200 and not replayed.json()["done"]
        fresh = replayed.json()["challenge"]
        other_ranges = {**fresh, "ranges": [[0, CHUNK]] * 4}  # the nonce, not the ranges
        assert not prove(bob, task, proof(data, other_ranges)).json()["done"]
        assert bob.get(f"/api/task/{task['id']}").json()["uploadedBytes"] == 0

        # a file the server does not hold answers the same way, shape for shape
        with host.client("carol") as carol:
            unknown = create(carol, random_bytes(SIZE), CHUNK).json()
            miss = prove(carol, unknown, "0" * 64)
        assert miss.status_code == wrong.status_code
        assert set(miss.json()) == set(wrong.json())
        assert {k: v for k, v in miss.json().items() if k in ("done", "instant", "state")} == {
            k: v for k, v in wrong.json().items() if k in ("done", "instant", "state")
        }


def test_bob_with_the_bytes_gets_an_instant_upload_of_his_own(host: HostApp) -> None:
    data = random_bytes(SIZE)
    with host.client("alice") as alice, host.client("bob") as bob:
        original = upload(alice, data)
        again = create(alice, data, CHUNK).json()  # within one owner: immediate, as before
        assert again["done"] and again["instant"] and again["challenge"] is None
        task = create(bob, data, CHUNK).json()
        proved = prove(bob, task, proof(data, task["challenge"]))
        assert proved.status_code == 200
        body = proved.json()
        assert body["done"] and body["instant"] and body["id"] == task["id"]
        assert body["challenge"] is None and body["hash"] == original["hash"]
        assert bob.get(body["fileUrl"]).content == data
        assert [t["id"] for t in bob.get("/api/tasks").json()["tasks"]] == [task["id"]]
        assert task["id"] not in {t["id"] for t in alice.get("/api/tasks").json()["tasks"]}
        again_proved = prove(bob, task, proof(data, task["challenge"]))  # done: no change
        assert again_proved.json()["done"]

        assert bob.delete(f"/api/task/{task['id']}").status_code == 204
        assert alice.get(f"/api/task/{original['id']}/file").content == data
        second = create(bob, data, CHUNK).json()
        assert prove(bob, second, proof(data, second["challenge"])).json()["done"]
        assert alice.delete(f"/api/task/{original['id']}").status_code == 204
        assert alice.delete(f"/api/task/{again['id']}").status_code == 204
        assert bob.get(f"/api/task/{second['id']}/file").content == data


def test_small_files_are_challenged_whole_and_a_proof_for_another_owner_is_404(
    host: HostApp,
) -> None:
    data = random_bytes(3000)
    with host.client("alice") as alice, httpx.Client(base_url=host.url) as anonymous:
        upload(alice, data)
        task = create(anonymous, data, 1024).json()
        assert task["challenge"]["ranges"] == [[0, 3000]] and not task["done"]
        assert prove(alice, task, proof(data, task["challenge"])).status_code == 404
        resumed = create(anonymous, data, 1024)
        assert resumed.status_code == 200 and resumed.json()["id"] == task["id"]
        assert resumed.json()["challenge"]["nonce"] != task["challenge"]["nonce"]
        done = prove(anonymous, task, proof(data, resumed.json()["challenge"])).json()
        assert done["done"] and done["instant"]
        assert anonymous.get(done["fileUrl"]).content == data


def test_malformed_proofs_get_a_clear_400(host: HostApp) -> None:
    with host.client("bob") as bob:
        task = create(bob, random_bytes(2000), 1024).json()
        for body in ({}, {"proof": "xyz"}, {"proof": "0" * 63}, {"proof": 5}):
            reply = bob.post(f"/api/task/{task['id']}/proof", json=body)
            assert reply.status_code == 400, (body, reply.text)
            assert [p["field"] for p in reply.json()["error"]["problems"]] == ["proof"]
