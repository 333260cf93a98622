"""The IETF resumable-upload draft (interop version 8) against the real server: tables per
method, then flows (problem details, resume after a cut, digests)."""

from __future__ import annotations

import base64
import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.tus_cases import ABSENT, ANY, DRAFT, TUS, Case, check
from tests.cutting_proxy import CuttingProxy
from tests.server_process import ServerProcess
from tests.waiting import wait_for

PARTIAL = {**DRAFT, "Content-Type": "application/partial-upload"}
MAX = 100 * 1024**3
MISMATCH = "https://iana.org/assignments/http-problem-types#mismatching-upload-offset"
INCONSISTENT = "https://iana.org/assignments/http-problem-types#inconsistent-upload-length"


def sf_digest(algorithm: str, data: bytes) -> str:
    key = {"sha256": "sha-256", "md5": "md5", "sha1": "sha"}[algorithm]
    return f"{key}=:{base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}:"


def named(headers: dict[str, str]) -> dict[str, str]:
    """Keyword arguments as header names: Upload_Length -> Upload-Length."""
    return {k.replace("_", "-"): v for k, v in headers.items()}


def incomplete(**headers: str) -> dict[str, str]:
    return {**DRAFT, "Upload-Complete": "?0", **named(headers)}


def complete(**headers: str) -> dict[str, str]:
    return {**DRAFT, "Upload-Complete": "?1", **named(headers)}


def append(offset: int, done: bool = False, **headers: str) -> dict[str, str]:
    state = {"Upload-Offset": str(offset), "Upload-Complete": "?1" if done else "?0"}
    return {**PARTIAL, **state, **named(headers)}


OPTIONS = [
    Case("limits", "OPTIONS", "collection", 204, DRAFT, expect={"Upload-Limit": f"max-size={MAX}"}),
]

POST = [
    Case(
        "create, no content",
        "POST",
        "collection",
        201,
        incomplete() | {"Upload-Length": "10"},
        expect={
            "Location": ANY,
            "Upload-Complete": "?0",
            "Upload-Offset": "0",
            "Upload-Limit": ANY,
        },
    ),
    Case(
        "create with part of the content",
        "POST",
        "collection",
        201,
        incomplete() | {"Upload-Length": "10"},
        b"01234",
        expect={"Upload-Complete": "?0", "Upload-Offset": "5"},
    ),
    Case(
        "create with the whole content",
        "POST",
        "collection",
        201,
        complete(),
        b"0123456789",
        expect={
            "Location": ANY,
            "Upload-Complete": "?1",
            "Upload-Offset": "10",
            "Repr-Digest": None,  # nobody asked: see tests/api/test_unhashed.py
        },
    ),
    Case(
        "empty representation",
        "POST",
        "collection",
        201,
        complete(),
        expect={"Upload-Complete": "?1"},
    ),
    Case(
        "length unknown",
        "POST",
        "collection",
        201,
        incomplete(),
        b"abc",
        expect={"Upload-Offset": "3"},
    ),
    Case(
        "Repr-Digest verified",
        "POST",
        "collection",
        201,
        complete() | {"Repr-Digest": sf_digest("md5", b"abc")},
        b"abc",
        expect={"Upload-Complete": "?1", "Repr-Digest": sf_digest("md5", b"abc")},
    ),
    Case(
        "Repr-Digest mismatch",
        "POST",
        "collection",
        422,
        complete() | {"Repr-Digest": sf_digest("sha256", b"xyz")},
        b"abc",
        expect={"Upload-Complete": "?1", "Content-Type": "application/problem+json"},
    ),
    Case(
        "Content-Digest mismatch",
        "POST",
        "collection",
        422,
        incomplete() | {"Content-Digest": sf_digest("sha256", b"xyz")},
        b"abc",
        expect={"Upload-Complete": "?0", "Location": ANY},
    ),
    Case(
        "malformed Content-Digest",
        "POST",
        "collection",
        400,
        incomplete() | {"Content-Digest": "sha-256=abc"},
        b"abc",
    ),
    Case("no Upload-Complete", "POST", "collection", 400, DRAFT, b"abc"),
    Case(
        "Upload-Complete not a boolean",
        "POST",
        "collection",
        400,
        DRAFT | {"Upload-Complete": "yes"},
    ),
    Case(
        "inconsistent length",
        "POST",
        "collection",
        400,
        complete() | {"Upload-Length": "3"},
        b"abcd",
        expect={"Content-Type": "application/problem+json", "Upload-Complete": "?0"},
    ),
    Case(
        "beyond max-size",
        "POST",
        "collection",
        413,
        incomplete() | {"Upload-Length": str(MAX + 1)},
        expect={"Upload-Limit": f"max-size={MAX}"},
    ),
    Case(
        "unsupported interop version",
        "POST",
        "collection",
        400,
        {"Upload-Draft-Interop-Version": "2", "Upload-Complete": "?1"},
        b"abc",
    ),
]

HEAD = [
    Case(
        "half",
        "HEAD",
        "draft-half",
        204,
        DRAFT,
        expect={
            "Upload-Offset": "5",
            "Upload-Complete": "?0",
            "Upload-Length": "10",
            "Cache-Control": "no-store",
            "Upload-Limit": ANY,
        },
    ),
    Case(
        "length unknown",
        "HEAD",
        "draft-deferred",
        204,
        DRAFT,
        expect={"Upload-Offset": "3", "Upload-Length": ABSENT},
    ),
    Case("done", "HEAD", "draft-done", 204, DRAFT, expect={"Upload-Complete": "?1"}),
    Case(
        "GET retrieves the offset", "GET", "draft-half", 204, DRAFT, expect={"Upload-Offset": "5"}
    ),
    Case("missing", "HEAD", "missing", 404, DRAFT),
]

PATCH = [
    Case(
        "append the rest, complete",
        "PATCH",
        "draft-half",
        200,
        append(5, True),
        b"56789",
        expect={
            "Upload-Complete": "?1",
            "Upload-Offset": "10",
            "Repr-Digest": None,  # nobody asked: see tests/api/test_unhashed.py
        },
    ),
    Case(
        "append some",
        "PATCH",
        "draft-half",
        204,
        append(5),
        b"56",
        expect={"Upload-Complete": "?0", "Upload-Offset": "7"},
    ),
    Case(
        "reaching the length under ?0 does not complete",
        "PATCH",
        "draft-half",
        204,
        append(5),
        b"56789",
        expect={"Upload-Complete": "?0", "Upload-Offset": "10"},
    ),
    Case(
        "complete with an empty append",
        "PATCH",
        "draft-deferred",
        200,
        append(3, True),
        expect={"Upload-Complete": "?1", "Upload-Offset": "3"},
    ),
    Case(
        "length learned from the completing append",
        "PATCH",
        "draft-deferred",
        200,
        append(3, True),
        b"def",
        expect={"Upload-Complete": "?1", "Upload-Offset": "6"},
    ),
    Case(
        "Upload-Length on an append",
        "PATCH",
        "draft-deferred",
        204,
        append(3, Upload_Length="8"),
        b"de",
        expect={"Upload-Offset": "5"},
    ),
    Case(
        "a completing append's Upload-Length is its end",
        "PATCH",
        "draft-deferred",
        200,
        append(3, True, Upload_Length="6"),
        b"def",
        expect={"Upload-Complete": "?1", "Upload-Offset": "6"},
    ),
    Case(
        "a completing append's Upload-Length past its end",
        "PATCH",
        "draft-deferred",
        400,
        append(3, True, Upload_Length="9"),
        b"def",
        expect={"Content-Type": "application/problem+json"},
        then_offset=3,
    ),
    Case(
        "a length one past the limit",
        "PATCH",
        "draft-deferred",
        413,
        append(3, Upload_Length=str(MAX + 1)),
        then_offset=3,
    ),
    Case(
        "mismatching offset",
        "PATCH",
        "draft-half",
        409,
        append(3),
        b"34",
        expect={
            "Upload-Offset": "5",
            "Upload-Complete": "?0",
            "Content-Type": "application/problem+json",
        },
        then_offset=5,
    ),
    Case("no Upload-Offset", "PATCH", "draft-half", 400, PARTIAL | {"Upload-Complete": "?0"}, b"5"),
    Case("negative Upload-Offset", "PATCH", "draft-half", 400, append(5) | {"Upload-Offset": "-5"}),
    Case("no Upload-Complete", "PATCH", "draft-half", 400, PARTIAL | {"Upload-Offset": "5"}, b"5"),
    Case(
        "not application/partial-upload",
        "PATCH",
        "draft-half",
        415,
        append(5) | {"Content-Type": "application/offset+octet-stream"},
        b"5",
    ),
    Case(
        "completes short of the length",
        "PATCH",
        "draft-half",
        400,
        append(5, True),
        b"56",
        expect={"Content-Type": "application/problem+json"},
        then_offset=5,
    ),
    Case("runs past the length", "PATCH", "draft-half", 400, append(5), b"567890", then_offset=5),
    Case("a different length", "PATCH", "draft-half", 400, append(5, Upload_Length="12"), b"5"),
    Case(
        "Content-Digest verified",
        "PATCH",
        "draft-half",
        204,
        append(5, Content_Digest=sf_digest("sha256", b"56")),
        b"56",
        expect={"Upload-Offset": "7"},
    ),
    Case(
        "Content-Digest mismatch stores nothing",
        "PATCH",
        "draft-half",
        422,
        append(5, Content_Digest=sf_digest("sha1", b"xx")),
        b"56",
        then_offset=5,
    ),
    Case(
        "replayed completion",
        "PATCH",
        "draft-done",
        200,
        append(10, True),
        expect={"Upload-Complete": "?1"},
    ),
    Case("append to a completed upload", "PATCH", "draft-done", 409, append(5), b"5"),
    Case("missing", "PATCH", "missing", 404, append(0), b"5"),
]

DELETE = [
    Case("cancel", "DELETE", "draft-half", 204, DRAFT, then_status=404),
    Case("missing", "DELETE", "missing", 404, DRAFT),
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    proc = ServerProcess(tmp_path_factory.mktemp("draft") / "data").start()
    with httpx.Client(base_url=proc.url, timeout=30) as http:
        yield http
    proc.stop()


@pytest.mark.parametrize("case", OPTIONS + POST + HEAD + PATCH + DELETE, ids=str)
def test_table(shared: httpx.Client, case: Case) -> None:
    check(shared, case)


@pytest.mark.parametrize(
    ("length", "body"), [(8, b"de"), (3, b""), (MAX, b"")], ids=["ahead", "at-the-offset", "max"]
)
def test_a_length_declared_by_an_append_is_kept_and_completes_nothing(
    client: httpx.Client, length: int, body: bytes
) -> None:
    """Upload-Length on an append, up to the server's limit itself, is the upload's length
    from then on; even at the offset reached, only `Upload-Complete: ?1` finishes it."""
    url = client.post("/files/", headers=incomplete(), content=b"abc").headers["Location"]
    reply = client.patch(url, headers=append(3, Upload_Length=str(length)), content=body)
    assert reply.status_code == 204, reply.text
    assert reply.headers["Upload-Complete"] == "?0"
    head = client.head(url, headers=DRAFT)
    assert head.headers["Upload-Length"] == str(length)
    assert head.headers["Upload-Offset"] == str(3 + len(body))
    assert head.headers["Upload-Complete"] == "?0"


def test_problem_details(client: httpx.Client) -> None:
    created = client.post("/files/", headers=incomplete(), content=b"abc")
    url = created.headers["Location"]
    response = client.patch(url, headers=append(7), content=b"x")
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == MISMATCH
    assert (problem["expected-offset"], problem["provided-offset"]) == (3, 7)
    inconsistent = client.post("/files/", headers=complete(Upload_Length="9"), content=b"abc")
    assert inconsistent.json()["type"] == INCONSISTENT
    # RFC 9457 section 4.2.1: under about:blank the title is the status phrase; the specifics
    # are in detail.
    plain = client.patch(url, headers=append(3) | {"Content-Digest": "sha-256=abc"}, content=b"x")
    assert plain.status_code == 400
    body = plain.json()
    assert (body["type"], body["title"], body["status"]) == ("about:blank", "Bad Request", 400)
    assert "Content-Digest" in body["detail"]


def test_an_upload_at_its_length_completes_only_when_a_request_says_so(
    client: httpx.Client,
) -> None:
    url = client.post("/files/", headers=incomplete(Upload_Length="6"), content=b"abc").headers[
        "Location"
    ]
    full = client.patch(url, headers=append(3), content=b"def")
    assert (full.status_code, full.headers["Upload-Complete"]) == (204, "?0")
    head = client.head(url, headers=DRAFT)
    assert (head.headers["Upload-Offset"], head.headers["Upload-Complete"]) == ("6", "?0")
    assert client.get(f"/api/task/{url.rsplit('/', 1)[1]}").json()["done"] is False
    done = client.patch(url, headers=append(6, True))
    assert (done.status_code, done.headers["Upload-Complete"]) == (200, "?1")
    assert client.get(url).content == b"abcdef"


def test_flow_with_file_name_and_type(client: httpx.Client) -> None:
    headers = incomplete() | {
        "Upload-Length": "6",
        "Content-Type": "text/plain",
        "Content-Disposition": "inline; filename=\"x.txt\"; filename*=UTF-8''%C3%A9t%C3%A9.txt",
    }
    url = client.post("/files/", headers=headers, content=b"abc").headers["Location"]
    done = client.patch(url, headers=append(3, True), content=b"def")
    assert done.status_code == 200
    task = done.json()
    assert task["done"] and task["protocol"] == "ietf"
    assert (task["fileName"], task["fileType"]) == ("été.txt", "text/plain")
    assert client.get(url).content == b"abcdef"


def test_repr_digest_mismatch_discards_the_upload(client: httpx.Client) -> None:
    headers = incomplete(Upload_Length="3") | {"Repr-Digest": sf_digest("sha256", b"xyz")}
    url = client.post("/files/", headers=headers, content=b"ab").headers["Location"]
    last = client.patch(url, headers=append(2, True), content=b"c")
    assert last.status_code == 422
    assert last.headers["Upload-Complete"] == "?1"
    assert client.head(url, headers=DRAFT).status_code == 404


def draft_offset(client: httpx.Client, url: str) -> int:
    return int(client.head(url, headers=DRAFT).headers["Upload-Offset"])


def test_resume_after_a_cut_append(server: ServerProcess, tmp_path: Path) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    with httpx.Client(base_url=server.url, timeout=30) as client:
        created = client.post("/files/", headers=incomplete(Upload_Length=str(len(data))))
        url = created.headers["Location"]
        with CuttingProxy(server.port) as proxy, httpx.Client(timeout=30) as cut:
            proxy.arm(len(data) // 2)
            via_proxy = url.replace(server.url, proxy.url)
            with pytest.raises(httpx.TransportError):
                cut.patch(via_proxy, headers=append(0, True), content=data)
        # The server learns of the cut on its own schedule (under load, after our HEAD): wait,
        # with a deadline, for what it documents, that the bytes before the cut are kept.
        wait_for(lambda: draft_offset(client, url) > 0, "the bytes before the cut to be kept")
        # Then resume as a client does: from the offset the server reports, again if the cut
        # request was still writing (its last bytes land, and the PATCH at a stale offset is
        # refused with 409, never half-applied) or still held the upload's lock (423).
        replies: list[httpx.Response] = []

        def resumed() -> bool:
            offset = draft_offset(client, url)
            assert 0 < offset < len(data)
            replies.append(client.patch(url, headers=append(offset, True), content=data[offset:]))
            assert replies[-1].status_code in (200, 409, 423), replies[-1].text
            return replies[-1].status_code == 200

        wait_for(resumed, "a resumed PATCH at the settled offset")
        assert replies[-1].headers["Upload-Complete"] == "?1"
        assert client.get(url).content == data


def test_tus_headers_do_not_leak_into_draft_requirements(client: httpx.Client) -> None:
    """A draft request needs no Tus-Resumable; a tus request needs no draft headers."""
    response = client.post("/files/", headers=complete(), content=b"x")
    assert response.status_code == 201
    assert client.head(response.headers["Location"], headers=TUS).status_code == 200


def test_104_announces_the_upload_before_the_body_so_a_cut_creation_resumes(
    server: ServerProcess, client: httpx.Client
) -> None:
    data = hashlib.sha256(b"seed").digest() * 4096  # 128 KiB
    head = (
        f"POST /files/ HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Upload-Draft-Interop-Version: 8\r\n"
        f"Upload-Complete: ?1\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(head.encode())  # headers only: the 104 must come before any body byte
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += raw.recv(4096)
        raw.sendall(data[:50_000])  # then the connection dies mid-body
    status, *fields = interim.split(b"\r\n\r\n")[0].decode().split("\r\n")
    assert status == "HTTP/1.1 104 Upload Resumption Supported"
    headers = dict(field.split(": ", 1) for field in fields)
    assert headers["Upload-Draft-Interop-Version"] == "8"
    assert headers["Upload-Limit"].startswith(f"max-size={MAX}")
    location = headers["Location"]
    wait_for(  # every byte that arrived before the FIN is kept, promptly
        lambda: draft_offset(client, location) == 50_000, "the 50,000 bytes before the FIN", 10
    )
    offset = 50_000
    finish = client.patch(location, content=data[offset:], headers=append(offset, done=True))
    assert finish.status_code == 200, finish.text
    assert finish.headers["Upload-Complete"] == "?1"
    assert client.get(location).content == data
