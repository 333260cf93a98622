"""tus checksum-trailer: `Upload-Checksum` sent as an HTTP trailer after a chunked PATCH body,
over a raw socket (HTTP clients rarely send request trailers) against a real server."""

from __future__ import annotations

import base64
import hashlib
import socket

import httpx
import pytest

from tests.api.tus_cases import TUS, create
from tests.server_process import ServerProcess


def chunked_patch(
    server: ServerProcess, url: str, body: bytes, trailer: str | None, announce: bool = True
) -> int:
    """PATCH `body` at offset 0 in two chunks, `trailer` after them; the response status.
    `announce`: the headers name the trailer (`Trailer: Upload-Checksum`)."""
    half = len(body) // 2
    chunks = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (body[:half], body[half:]))
    head = [
        f"PATCH {url.removeprefix(server.url)} HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        "Tus-Resumable: 1.0.0",
        "Content-Type: application/offset+octet-stream",
        "Upload-Offset: 0",
        "Transfer-Encoding: chunked",
        "Connection: close",
        *(["Trailer: Upload-Checksum"] if announce else []),
    ]
    tail = b"0\r\n" + (f"{trailer}\r\n".encode() if trailer else b"") + b"\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw:
        raw.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + chunks + tail)
        response = b""
        while b"\r\n" not in response:
            response += raw.recv(4096)
    return int(response.split(b" ", 2)[1])


def checksum(algorithm: str, data: bytes) -> str:
    encoded = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    return f"Upload-Checksum: {algorithm} {encoded}"


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256"])
def test_a_matching_trailer_appends(
    module_server: ServerProcess, module_client: httpx.Client, algorithm: str
) -> None:
    data = b"trailing checksums " * 1000
    url = create(module_client, {"Upload-Length": str(len(data))})
    assert chunked_patch(module_server, url, data, checksum(algorithm, data)) == 204
    assert module_client.get(url).content == data


def test_a_mismatching_trailer_is_460_and_appends_nothing(
    module_server: ServerProcess, module_client: httpx.Client
) -> None:
    # Large enough that the trailer is parsed long after the handler read the headers: it is
    # checked as a trailer, not mistaken for a header.
    data = b"x" * (4 * 1024 * 1024)
    url = create(module_client, {"Upload-Length": str(len(data))})
    assert chunked_patch(module_server, url, data, checksum("sha1", b"other")) == 460
    assert module_client.head(url, headers=TUS).headers["Upload-Offset"] == "0"


def test_an_announced_trailer_that_never_comes_is_a_400(
    module_server: ServerProcess, module_client: httpx.Client
) -> None:
    url = create(module_client, {"Upload-Length": "4"})
    assert chunked_patch(module_server, url, b"abcd", None) == 400
    assert module_client.head(url, headers=TUS).headers["Upload-Offset"] == "0"


def test_a_trailer_never_passes_for_a_header(
    module_server: ServerProcess, module_client: httpx.Client
) -> None:
    """uvicorn appends trailer fields to the request's header list: a small request parsed
    whole before its handler runs would see an unannounced trailer as an `Upload-Checksum`
    header. upslice keeps trailers apart, and uses only announced ones."""
    url = create(module_client, {"Upload-Length": "4"})
    assert chunked_patch(module_server, url, b"abcd", checksum("md5", b"zz"), announce=False) == 204
    assert module_client.get(url).content == b"abcd"
