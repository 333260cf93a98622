"""File types become Content-Type headers: every front end refuses what a header cannot carry,
and no stored type, however old, can break a download."""

from __future__ import annotations

import base64
import json
import sqlite3

import httpx
import pytest

from tests.api.tus_cases import DRAFT, TUS
from tests.server_process import ServerProcess
from tests.taskflow import md5_hex
from upslice.api import mediatype


@pytest.fixture
def client(module_client: httpx.Client) -> httpx.Client:
    """Every test here makes its own uploads: one server serves the whole module."""
    return module_client


BAD_TYPES = ["text/html\n", "text/html\r\nX-Evil: 1", "文件/类型", "text", "a/b c", "a/b;c", ""]
GOOD_TYPES = ["image/png", "text/plain; charset=utf-8", 'application/x-a+b;q="x \\" y"']


@pytest.mark.parametrize("value", BAD_TYPES[:-1])
def test_a_bad_type_is_refused(value: str) -> None:
    assert not mediatype.is_valid(value)
    assert mediatype.safe(value) == "application/octet-stream"


@pytest.mark.parametrize("value", GOOD_TYPES)
def test_a_good_type_passes(value: str) -> None:
    assert mediatype.is_valid(value) and mediatype.safe(value) == value


def new_task(client: httpx.Client, file_type: str) -> httpx.Response:
    data = b"<script>alert(1)</script>"
    body = {"hash": md5_hex(data), "fileName": "x.html", "fileType": file_type}
    return client.post("/api/task", json=body | {"fileSize": len(data)})


@pytest.mark.parametrize("value", ["text/html\n", "文件/类型", "text/html\r\nSet-Cookie: a=b"])
def test_tasks_api_names_the_field(client: httpx.Client, value: str) -> None:
    reply = new_task(client, value)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "invalid_input" and "fileType" in error["message"]
    assert [p["field"] for p in error["problems"]] == ["fileType"]


def test_an_empty_type_means_unknown(client: httpx.Client) -> None:
    reply = new_task(client, "")
    assert reply.status_code == 201 and reply.json()["fileType"] == "application/octet-stream"


@pytest.mark.parametrize("value", ["text/html\n", "文件/类型"])
def test_tus_filetype_is_checked(client: httpx.Client, value: str) -> None:
    encoded = base64.b64encode(value.encode()).decode()
    reply = client.post(
        "/files/", headers=TUS | {"Upload-Length": "3", "Upload-Metadata": f"filetype {encoded}"}
    )
    assert reply.status_code == 400, reply.text
    assert "filetype" in reply.json()["error"]["message"]


def test_tus_empty_filetype_is_unknown(client: httpx.Client) -> None:
    """tus-js-client sends an empty `filetype` for files the browser cannot type."""
    headers = TUS | {"Upload-Length": "0", "Upload-Metadata": "filetype ,filename eA=="}
    reply = client.post("/files/", headers=headers)
    assert reply.status_code == 201, reply.text
    download = client.get(reply.headers["Location"])
    assert download.headers["content-type"] == "application/octet-stream"


def test_ietf_creation_type_is_checked(client: httpx.Client) -> None:
    headers = {k.encode(): v.encode() for k, v in (DRAFT | {"Upload-Complete": "?1"}).items()}
    headers[b"Content-Type"] = b"text/h\xe9ml"  # Latin-1, as a header may carry it
    reply = client.post("/files/", headers=headers, content=b"abc")
    assert reply.status_code == 400, reply.text
    assert "Content-Type" in reply.json()["detail"]


def test_a_stored_bad_type_never_breaks_a_download(
    module_server: ServerProcess, client: httpx.Client
) -> None:
    """Records written before types were checked still download, as octet-stream."""
    reply = new_task(client, "text/html")
    task = reply.json()
    client.put(
        f"/api/task/{task['id']}/chunk/0",
        content=b"<script>alert(1)</script>",
        headers={"Content-Type": "application/octet-stream"},
    )
    with sqlite3.connect(module_server.data_dir / "upslice.db") as db:
        for value in ("text/html\n", "文件/类型"):
            db.execute("UPDATE uploads SET file_type = ? WHERE id = ?", (value, task["id"]))
            db.commit()
            for method in ("GET", "HEAD"):
                download = client.request(method, f"/api/task/{task['id']}/file")
                assert download.status_code == 200, download.text
                assert download.headers["content-type"] == "application/octet-stream"
            assert client.get(f"/api/task/{task['id']}/file").content.startswith(b"<script>")


def test_bad_file_names_never_break_a_download(client: httpx.Client) -> None:
    for name in ("a\r\nb.txt", "名前\n.txt", "\ud800x", '"; x=1'):
        data = name.encode("utf-8", "surrogatepass")
        body = {"hash": md5_hex(data), "fileName": name, "fileSize": len(data)}
        sent = json.dumps(body)  # ASCII escapes, so a lone surrogate travels as JSON allows
        reply = client.post("/api/task", content=sent, headers={"Content-Type": "application/json"})
        assert reply.status_code in (201, 400), reply.text
        if reply.status_code == 400:
            assert reply.json()["error"]["problems"][0]["field"] == "fileName"
            continue
        task = reply.json()
        client.put(
            f"/api/task/{task['id']}/chunk/0",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        download = client.get(f"/api/task/{task['id']}/file")
        assert download.status_code == 200 and download.content == data
        assert "\n" not in download.headers["content-disposition"]
