"""--auth jwt with an HS256 secret: every route that touches uploads wants a valid token, the
token's subject owns what it creates, and signed download URLs stand in for a token."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from tests.api.tus_cases import DRAFT, TUS
from tests.hooks.conftest import wait_for
from tests.server_process import ServerProcess
from tests.taskflow import create, put_chunk, random_bytes

SECRET = "a-test-secret-of-at-least-32-bytes!"


def token(sub: str, secret: str = SECRET, **claims: Any) -> dict[str, str]:
    payload = {"sub": sub, "exp": int(time.time()) + 600, **claims}
    return {"Authorization": f"Bearer {jwt.encode(payload, secret, algorithm='HS256')}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path_factory.mktemp("jwt") / "data",
        "--min-chunk-size", "1024",
        "--auth", "jwt",
        "--jwt-secret", SECRET,
        "--download-url-seconds", "3",
    ).start()  # fmt: skip
    yield proc  # tests/conftest.py's `client` talks to this server
    proc.stop()


def finished_task(server_url: str, data: bytes, who: dict[str, str]) -> dict[str, Any]:
    """A task `who` uploaded whole; the answer to its last chunk."""
    with httpx.Client(base_url=server_url, headers=who, timeout=30) as as_user:
        task = create(as_user, data, 1024).json()
        for index in range(task["chunkCount"]):
            last = put_chunk(as_user, task, index, data[index * 1024 : (index + 1) * 1024])
    assert last.json()["done"] is True
    return dict(last.json())


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/api/tasks", {}),
        ("POST", "/api/task", {}),
        ("GET", "/api/task/abc/file", {}),
        ("POST", "/files/", {**TUS, "Upload-Length": "5"}),
        ("POST", "/files/", {**DRAFT, "Upload-Complete": "?1"}),
        ("DELETE", "/files/abc", TUS),
    ],
)
def test_no_token_is_401(
    client: httpx.Client, method: str, path: str, headers: dict[str, str]
) -> None:
    response = client.request(method, path, headers=headers, json={} if method == "POST" else None)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = response.json()  # the draft answers problem details, the others {"error": ...}
    assert body.get("error", body)["code"] == "unauthorized"


def test_health_stays_open(client: httpx.Client) -> None:
    assert client.get("/health").status_code == 200


def test_wrong_signature_expired_or_malformed_token_is_401(client: httpx.Client) -> None:
    forged = client.get(
        "/api/tasks", headers=token("alice", secret="not-the-server-secret-at-all-not-even-close")
    )
    assert forged.status_code == 401 and "Signature" in forged.json()["error"]["message"]
    old = client.get("/api/tasks", headers=token("alice", exp=int(time.time()) - 60))
    assert old.status_code == 401 and old.json()["error"]["message"] == "the token has expired"
    basic = client.get("/api/tasks", headers={"Authorization": "Basic YWxpY2U6eA=="})
    assert basic.status_code == 401
    assert client.get("/api/tasks", headers={"Authorization": "Bearer x.y.z"}).status_code == 401


def test_the_subject_owns_its_uploads(client: httpx.Client) -> None:
    alice, bob = token("alice"), token("bob")
    task = finished_task(str(client.base_url), random_bytes(1500), alice)
    assert client.get(f"/api/task/{task['id']}", headers=alice).status_code == 200
    assert client.get(f"/api/task/{task['id']}", headers=bob).status_code == 404
    assert client.get(f"/api/task/{task['id']}/file", headers=bob).status_code == 404
    assert [t["id"] for t in client.get("/api/tasks", headers=bob).json()["tasks"]] == []
    created = client.post("/files/", headers={**TUS, **alice, "Upload-Length": "10"})
    assert created.status_code == 201
    url = created.headers["Location"]
    assert client.head(url, headers={**TUS, **bob}).status_code == 404
    assert client.head(url, headers={**TUS, **alice}).status_code == 200


def test_a_signed_download_url_works_without_a_token_until_it_expires(
    client: httpx.Client,
) -> None:
    data = random_bytes(2000)
    task = finished_task(str(client.base_url), data, token("carol"))
    url = task["downloadUrl"]
    assert url.startswith(task["fileUrl"] + "?exp=")
    assert client.get(url).content == data  # no Authorization header at all
    tampered = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    assert client.get(tampered).status_code == 401
    stretched = url.replace("exp=", "exp=9")  # a later expiry under the same signature
    assert client.get(stretched).status_code == 401
    garbage = url.split("&sig=")[0] + "&sig=%C2%88%C3%8DUG%F2%A4"  # not even hex: 401, not 500
    assert client.get(garbage).status_code == 401
    wait_for(lambda: client.get(url).status_code == 401, "the URL to expire", timeout=10)
    assert "expired" in client.get(url).json()["error"]["message"]
