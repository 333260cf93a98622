"""CORS against real servers: the loopback default, a public bind, `*`, and the `null` origin."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.tus_cases import TUS
from tests.threaded_server import threaded_server
from upslice.app import create_app
from upslice.settings import Settings

DEV = "http://localhost:5173"
APP = "https://app.example"


def preflight(
    client: httpx.Client, path: str, origin: str, method: str = "PUT", headers: str = ""
) -> httpx.Response:
    extra = {"Access-Control-Request-Headers": headers} if headers else {}
    return client.options(
        path, headers={"Origin": origin, "Access-Control-Request-Method": method, **extra}
    )


def exposed(response: httpx.Response) -> set[str]:
    names = response.headers.get("Access-Control-Expose-Headers", "")
    return {name.strip().lower() for name in names.split(",") if name.strip()}


def public_server(tmp: Path, *origins: str) -> Iterator[httpx.Client]:
    """A real server bound to every address (so not a loopback bind) with these origins."""
    settings = Settings(host="0.0.0.0", data_dir=tmp / "data", cors_origins=list(origins))
    with (
        threaded_server(create_app(settings), host="0.0.0.0") as url,
        httpx.Client(base_url=url) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    yield from public_server(tmp_path_factory.mktemp("public"))


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    yield from public_server(tmp_path_factory.mktemp("listed"), APP, "null")


@pytest.fixture(scope="module")
def anyone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    yield from public_server(tmp_path_factory.mktemp("any"), "*")


@pytest.mark.parametrize(
    "origin",
    [DEV, "https://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:4200",
     "http://app.localhost:5173", "http://localhost"],
)  # fmt: skip
@pytest.mark.parametrize(
    ("path", "method"),
    [("/api/task", "POST"), ("/api/task/abc/chunk/0", "PUT"), ("/files/", "POST"),
     ("/files/abc", "PATCH"), ("/files/abc", "HEAD"), ("/api/task/abc/file", "GET"),
     ("/api/task/abc", "DELETE")],
)  # fmt: skip
def test_loopback_bind_allows_any_loopback_origin_everywhere(
    module_client: httpx.Client, origin: str, path: str, method: str
) -> None:
    headers = "content-type,upload-offset,tus-resumable,upload-complete,x-request-id"
    response = preflight(module_client, path, origin, method, headers)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert method in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"] == headers
    assert response.headers["Access-Control-Max-Age"] == "7200"
    assert "Origin" in response.headers["Vary"]


@pytest.mark.parametrize(
    "origin",
    ["http://localhost.evil.example", "http://127.0.0.1.nip.io:80", "https://example.com",
     "http://evil.example?http://localhost", "null"],
)  # fmt: skip
def test_loopback_bind_refuses_other_origins_with_a_reason(
    module_client: httpx.Client, origin: str
) -> None:
    response = preflight(module_client, "/api/task", origin, "POST", "content-type")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers
    error = response.json()["error"]
    assert error["code"] == "cors_refused"
    assert f"--cors-origin {origin}" in error["message"]
    actual = module_client.get("/api/tasks", headers={"Origin": origin})
    assert actual.status_code == 200
    assert "Access-Control-Allow-Origin" not in actual.headers


def test_actual_requests_carry_the_origin_and_the_exposed_headers(
    module_client: httpx.Client,
) -> None:
    data = b"cors " * 300
    created = module_client.post(
        "/api/task",
        headers={"Origin": DEV},
        json={"hash": hashlib.md5(data).hexdigest(), "fileName": "a.txt", "fileSize": len(data)},
    )
    assert created.status_code == 201
    assert created.headers["Access-Control-Allow-Origin"] == DEV
    task = created.json()
    chunk = module_client.put(
        f"/api/task/{task['id']}/chunk/0", headers={"Origin": DEV}, content=data
    )
    assert chunk.json()["done"]
    download = module_client.get(f"/api/task/{task['id']}/file", headers={"Origin": DEV})
    assert download.content == data
    assert download.headers["Access-Control-Allow-Origin"] == DEV
    assert "content-disposition" in exposed(download)

    tus = module_client.post(
        "/files/", headers={**TUS, "Origin": "http://127.0.0.1:9999", "Upload-Length": "3"}
    )
    assert tus.status_code == 201
    assert tus.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:9999"
    for name in ("location", "upload-offset", "upload-length", "tus-resumable", "upload-expires",
                 "upload-metadata", "upload-complete", "upload-draft-interop-version",
                 "upload-limit", "repr-digest", "content-disposition", "x-request-id"):  # fmt: skip
        assert name in exposed(tus), name
    assert "*" not in exposed(tus)


def test_an_error_reply_is_readable_cross_origin(module_client: httpx.Client) -> None:
    """A page must be able to read why it failed, not see an opaque CORS error."""
    response = module_client.put("/api/task/nope/chunk/0", headers={"Origin": DEV}, content=b"x")
    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == DEV
    assert response.json()["error"]["code"] == "not_found"


def test_ietf_draft_upload_cross_origin(module_client: httpx.Client) -> None:
    response = preflight(module_client, "/files/", DEV, "POST", "upload-complete,content-type")
    assert response.status_code == 204
    created = module_client.post(
        "/files/",
        headers={"Origin": DEV, "Upload-Complete": "?1", "Upload-Draft-Interop-Version": "8"},
        content=b"draft",
    )
    assert created.status_code in (200, 201), created.text
    assert created.headers["Access-Control-Allow-Origin"] == DEV
    assert "upload-complete" in exposed(created)


def test_non_loopback_bind_allows_nothing_by_default(public: httpx.Client) -> None:
    response = preflight(public, "/api/task", DEV, "POST", "content-type")
    assert response.status_code == 403
    assert "non-loopback" in response.json()["error"]["message"]
    assert "Access-Control-Allow-Origin" not in response.headers
    actual = public.get("/api/tasks", headers={"Origin": DEV})
    assert "Access-Control-Allow-Origin" not in actual.headers


def test_listed_origins_and_null_by_name(listed: httpx.Client) -> None:
    for origin in (APP, "null"):
        response = preflight(listed, "/files/abc", origin, "PATCH", "upload-offset")
        assert response.status_code == 204, origin
        assert response.headers["Access-Control-Allow-Origin"] == origin
        actual = listed.get("/api/tasks", headers={"Origin": origin})
        assert actual.headers["Access-Control-Allow-Origin"] == origin
    assert preflight(listed, "/files/abc", DEV, "PATCH").status_code == 403
    assert preflight(listed, "/files/abc", APP + ":8443", "PATCH").status_code == 403


def test_star_allows_every_origin_but_null(anyone: httpx.Client) -> None:
    response = preflight(anyone, "/api/task", "https://whoever.example", "POST", "content-type")
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    actual = anyone.get("/api/tasks", headers={"Origin": "https://whoever.example"})
    assert actual.headers["Access-Control-Allow-Origin"] == "*"
    refused = preflight(anyone, "/api/task", "null", "POST", "content-type")
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert (
        "Access-Control-Allow-Origin"
        not in anyone.get("/api/tasks", headers={"Origin": "null"}).headers
    )


def test_plain_options_still_answers_tus_discovery(module_client: httpx.Client) -> None:
    """An OPTIONS without Access-Control-Request-Method is tus's, not a preflight."""
    response = module_client.options("/files/", headers={"Origin": DEV})
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert response.headers["Access-Control-Allow-Origin"] == DEV


def test_is_loopback() -> None:
    from upslice.api.cors import is_loopback

    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.2", "example.com"]))
