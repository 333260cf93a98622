"""Finished files: Range, validators, and a Content-Disposition no file name can break."""

from __future__ import annotations

from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Any

import httpx
import pytest

from tests.taskflow import chunk_of, create, put_chunk, random_bytes
from upslice.api.downloads import content_disposition

DATA = random_bytes(50_000, seed=5)


@pytest.fixture
def done(client: httpx.Client) -> dict[str, Any]:
    task = create(client, DATA, 16 * 1024, name='Résumé "final".pdf').json()
    for index in range(task["chunkCount"]):
        reply = put_chunk(client, task, index, chunk_of(DATA, task, index))
    finished: dict[str, Any] = reply.json()
    return finished


@pytest.mark.parametrize(
    ("header", "status", "body", "content_range"),
    [
        ("bytes=0-9", 206, DATA[:10], "bytes 0-9/50000"),
        ("bytes=49990-", 206, DATA[49990:], "bytes 49990-49999/50000"),
        ("bytes=-5", 206, DATA[-5:], "bytes 49995-49999/50000"),
        ("bytes=100-99999999", 206, DATA[100:], "bytes 100-49999/50000"),
        ("bytes=60000-", 416, b"", "bytes */50000"),
        ("bytes=9-3", 200, DATA, None),  # malformed: ignored
        ("lines=1-2", 200, DATA, None),
        ("bytes=0-1,5-6", 200, DATA, None),  # several ranges: served whole
    ],
)
def test_ranges(
    client: httpx.Client,
    done: dict[str, Any],
    header: str,
    status: int,
    body: bytes,
    content_range: str | None,
) -> None:
    reply = client.get(done["fileUrl"], headers={"Range": header})
    assert reply.status_code == status
    assert reply.content == body
    assert reply.headers.get("content-range") == content_range


def test_validators_and_headers(client: httpx.Client, done: dict[str, Any]) -> None:
    reply = client.get(done["fileUrl"])
    tag = reply.headers["etag"]
    assert tag == f'"md5-{done["hash"]}"' and reply.headers["accept-ranges"] == "bytes"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert client.get(done["fileUrl"], headers={"If-None-Match": tag}).status_code == 304
    stale = client.get(done["fileUrl"], headers={"Range": "bytes=0-1", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.content == DATA
    fresh = client.get(done["fileUrl"], headers={"Range": "bytes=0-1", "If-Range": tag})
    assert fresh.status_code == 206 and fresh.content == DATA[:2]
    head = client.head(done["fileUrl"])
    assert head.status_code == 200 and head.headers["content-length"] == "50000"
    assert head.content == b""


def test_content_disposition_carries_the_name_safely(
    client: httpx.Client, done: dict[str, Any]
) -> None:
    header = client.get(done["fileUrl"]).headers["content-disposition"]
    assert header.startswith("attachment; ")
    assert "filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22.pdf" in header


@pytest.mark.parametrize(
    ("name", "fallback", "full"),
    [
        ('a"b.txt', "a_b.txt", 'a"b.txt'),
        ("../../x", ".._.._x", ".._.._x"),
        ("new\r\nline.txt", "newline.txt", "newline.txt"),
        ("\\\\server\\share", "__server_share", "__server_share"),
        ("日本語.txt", "___.txt", "日本語.txt"),
        ("", "download", "download"),
        (";,%", "_,_", ";,%"),
    ],
)
def test_content_disposition_never_breaks_the_header(name: str, fallback: str, full: str) -> None:
    header = content_disposition(name)
    assert header.isascii() and "\r" not in header and "\n" not in header
    message = Message()  # parsed as a client would, not split on quotes
    message["Content-Disposition"] = header
    params = message.get_params(header="content-disposition")
    assert params is not None and params[0] == ("attachment", "")
    assert [key for key, _ in params[1:]] == ["filename", "filename"]  # nothing leaked out
    plain, extended = params[1][1], params[2][1]
    assert plain == fallback
    assert isinstance(extended, tuple) and collapse_rfc2231_value(extended) == full
