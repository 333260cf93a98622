"""Interop versions 3 to 7 of the resumable-upload draft, one request/response table per version,
each row taken from that version's draft text (interop 8 has its own module, test_ietf_draft).

Upload kinds per version: "fresh" (10 bytes announced where the version can say so), "half" (5
of 10 bytes in), "done" (complete). Creation helpers speak the version's own dialect.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.api.tus_cases import ABSENT, ANY, Case
from tests.server_process import ServerProcess

MAX = 100 * 1024**3
PROBLEMS = "https://iana.org/assignments/http-problem-types#"


def version(n: int, **headers: str) -> dict[str, str]:
    return {
        "Upload-Draft-Interop-Version": str(n),
        **{k.replace("_", "-"): v for k, v in headers.items()},
    }


def open_flag(n: int) -> dict[str, str]:
    """The request header saying "more is coming" in version `n`."""
    return {"Upload-Incomplete": "?1"} if n == 3 else {"Upload-Complete": "?0"}


def end_flag(n: int) -> dict[str, str]:
    return {"Upload-Incomplete": "?0"} if n == 3 else {"Upload-Complete": "?1"}


def make(client: httpx.Client, n: int, target: str) -> str:
    if target == "collection":
        return f"{client.base_url}/files/"
    if target == "missing":
        return f"{client.base_url}/files/AAAAAAAAAAAAAAAAAAAAAA"
    length = {"Upload-Length": "10"} if n >= 6 else {}
    headers, body = {**version(n), **open_flag(n), **length}, b""
    if target == "half":
        body = b"01234"
    elif target == "done":
        headers, body = {**version(n), **end_flag(n)}, b"0123456789"
    response = client.post("/files/", headers=headers, content=body)
    assert response.status_code == 201, response.text
    return response.headers["Location"]


def check(client: httpx.Client, n: int, case: Case) -> None:
    url = make(client, n, case.target)
    response = client.request(case.method, url, headers=case.headers, content=case.body)
    assert response.status_code == case.status, response.text
    for name, wanted in case.expect.items():
        got = response.headers.get(name)
        if wanted is ANY:
            assert got is not None, f"{name} missing"
        elif name == "problem-type":
            assert response.json()["type"] == wanted
        else:
            assert got == wanted, f"{name}: {got!r} != {wanted!r}"
    if case.then_offset is not None:
        head = client.head(url, headers=version(n))
        assert head.headers["Upload-Offset"] == str(case.then_offset)


# draft-ietf-httpbis-resumable-upload-01 (interop 3): `Upload-Incomplete`; creation MUST carry
# it; an append without it is the last; no Upload-Length, no Upload-Limit, any append type;
# HEAD and DELETE MUST be rejected with 400 when they carry Upload-Offset or Upload-Incomplete.
V3 = [
    Case(
        "create, part of the content",
        "POST",
        "collection",
        201,
        version(3, Upload_Incomplete="?1"),
        b"0123456789"[:5],
        expect={
            "Location": ANY,
            "Upload-Incomplete": "?1",
            "Upload-Offset": "5",
            "Upload-Complete": ABSENT,
            "Upload-Limit": ABSENT,
        },
    ),
    Case(
        "create, the whole content",
        "POST",
        "collection",
        201,
        version(3, Upload_Incomplete="?0"),
        b"0123456789",
        expect={"Upload-Offset": "10", "Upload-Incomplete": "?0", "Location": ANY},
    ),
    Case("creation without Upload-Incomplete", "POST", "collection", 400, version(3), b"x"),
    Case(
        "creation with the later Upload-Complete",
        "POST",
        "collection",
        400,
        version(3, Upload_Complete="?1"),
        b"x",
    ),
    Case(
        "offset retrieval",
        "HEAD",
        "half",
        204,
        version(3),
        expect={
            "Upload-Offset": "5",
            "Upload-Incomplete": "?1",
            "Cache-Control": "no-store",
            "Upload-Complete": ABSENT,
            "Upload-Length": ABSENT,
        },
    ),
    Case("HEAD with Upload-Offset", "HEAD", "half", 400, version(3, Upload_Offset="5")),
    Case("HEAD with Upload-Incomplete", "HEAD", "half", 400, version(3, Upload_Incomplete="?1")),
    Case(
        "append, more to come (201)",
        "PATCH",
        "half",
        201,
        version(3, Upload_Offset="5", Upload_Incomplete="?1"),
        b"56",
        expect={"Upload-Incomplete": "?1", "Upload-Offset": "7"},
    ),
    Case(
        "append without Upload-Incomplete is the last",
        "PATCH",
        "half",
        201,
        version(3, Upload_Offset="5"),
        b"56789",
        expect={"Upload-Incomplete": "?0", "Upload-Offset": "10"},
    ),
    Case(
        "any media type appends",
        "PATCH",
        "half",
        201,
        version(3, Upload_Offset="5", Upload_Incomplete="?1", Content_Type="text/plain"),
        b"5",
        expect={"Upload-Offset": "6"},
    ),
    Case(
        "mismatching offset",
        "PATCH",
        "half",
        409,
        version(3, Upload_Offset="3", Upload_Incomplete="?1"),
        b"34",
        expect={"Upload-Offset": "5", "problem-type": "about:blank"},
        then_offset=5,
    ),
    Case(
        "DELETE with Upload-Incomplete", "DELETE", "half", 400, version(3, Upload_Incomplete="?1")
    ),
    Case("cancel", "DELETE", "half", 204, version(3)),
]

# -02 (interop 4): `Upload-Complete` replaces `Upload-Incomplete`; complete only after a request
# with Upload-Complete: ?1; the rest as in -01.
V4 = [
    Case(
        "create, part of the content",
        "POST",
        "collection",
        201,
        version(4, Upload_Complete="?0"),
        b"01234",
        expect={"Upload-Complete": "?0", "Upload-Offset": "5", "Upload-Incomplete": ABSENT},
    ),
    Case(
        "creation with the earlier Upload-Incomplete",
        "POST",
        "collection",
        400,
        version(4, Upload_Incomplete="?1"),
        b"x",
    ),
    Case(
        "offset retrieval",
        "HEAD",
        "half",
        204,
        version(4),
        expect={"Upload-Complete": "?0", "Upload-Offset": "5", "Upload-Limit": ABSENT},
    ),
    Case("HEAD with Upload-Complete", "HEAD", "half", 400, version(4, Upload_Complete="?0")),
    Case(
        "append without Upload-Complete is not the last",
        "PATCH",
        "half",
        201,
        version(4, Upload_Offset="5"),
        b"56789",
        expect={"Upload-Complete": "?0", "Upload-Offset": "10"},
    ),
    Case(
        "the last append (201)",
        "PATCH",
        "half",
        201,
        version(4, Upload_Offset="5", Upload_Complete="?1"),
        b"56789",
        expect={"Upload-Complete": "?1", "Upload-Offset": "10"},
    ),
    Case("DELETE with Upload-Offset", "DELETE", "half", 400, version(4, Upload_Offset="5")),
]

# -03 (interop 5): as -02 (200 is also allowed for offset retrieval; progress 104s are optional).
# What tus-js-client's 'ietf-draft-03' sends: Upload-Length and Upload-Metadata (not draft
# headers: ignored), appends without a Content-Type.
V5 = [
    Case(
        "create as tus-js-client does",
        "POST",
        "collection",
        201,
        version(5, Upload_Complete="?0", Upload_Length="10", Upload_Metadata="filename YS50eHQ="),
        expect={"Upload-Complete": "?0", "Upload-Offset": "0", "Upload-Limit": ABSENT},
    ),
    Case(
        "offset retrieval has no Upload-Length",
        "HEAD",
        "half",
        204,
        version(5),
        expect={"Upload-Offset": "5", "Upload-Complete": "?0", "Upload-Length": ABSENT},
    ),
    Case(
        "append with no Content-Type",
        "PATCH",
        "half",
        201,
        version(5, Upload_Offset="5", Upload_Complete="?0"),
        b"567",
        expect={"Upload-Complete": "?0", "Upload-Offset": "8"},
    ),
    Case(
        "the last append",
        "PATCH",
        "half",
        201,
        version(5, Upload_Offset="5", Upload_Complete="?1"),
        b"56789",
        expect={"Upload-Complete": "?1", "Upload-Offset": "10"},
    ),
    Case("HEAD with Upload-Offset", "HEAD", "half", 400, version(5, Upload_Offset="0")),
]

PARTIAL = {"Content-Type": "application/partial-upload"}

# -04 and -05 (interop 6): appends MUST be application/partial-upload; Upload-Limit (lifetime key
# `expires`), also on OPTIONS; Upload-Length (-05) on creation and in HEAD, which MUST reject it
# in the request; problem types for mismatching offsets and completed uploads.
V6 = [
    Case(
        "limits",
        "OPTIONS",
        "collection",
        204,
        version(6),
        expect={"Upload-Limit": f"max-size={MAX}"},
    ),
    Case(
        "create with Upload-Length",
        "POST",
        "collection",
        201,
        version(6, Upload_Complete="?0", Upload_Length="10"),
        b"01",
        expect={"Upload-Complete": "?0", "Upload-Offset": "2", "Upload-Limit": ANY},
    ),
    Case(
        "offset retrieval",
        "HEAD",
        "half",
        204,
        version(6),
        expect={"Upload-Offset": "5", "Upload-Length": "10", "Upload-Complete": "?0"},
    ),
    Case("HEAD with Upload-Length", "HEAD", "half", 400, version(6, Upload_Length="10")),
    Case(
        "append not application/partial-upload",
        "PATCH",
        "half",
        415,
        version(6, Upload_Offset="5", Upload_Complete="?0"),
        b"5",
    ),
    Case(
        "append (201)",
        "PATCH",
        "half",
        201,
        version(6, Upload_Offset="5", Upload_Complete="?0") | PARTIAL,
        b"56",
        expect={"Upload-Complete": "?0", "Upload-Offset": "7"},
    ),
    Case(
        "mismatching offset",
        "PATCH",
        "half",
        409,
        version(6, Upload_Offset="3", Upload_Complete="?0") | PARTIAL,
        b"3",
        expect={"problem-type": PROBLEMS + "mismatching-upload-offset", "Upload-Offset": "5"},
    ),
    Case(
        "append to a completed upload",
        "PATCH",
        "done",
        409,
        version(6, Upload_Offset="10", Upload_Complete="?1") | PARTIAL,
        b"x",
        expect={"problem-type": PROBLEMS + "completed-upload", "Upload-Complete": "?0"},
    ),
    Case(
        "inconsistent length: a plain 400 (the type came in -06)",
        "POST",
        "collection",
        400,
        version(6, Upload_Complete="?1", Upload_Length="3"),
        b"abcd",
        expect={"problem-type": "about:blank"},
    ),
]

# -06 to -08 (interop 7): `max-age` replaces `expires`; appends answer any 2xx (upslice: 204,
# 200 with the completed resource); PATCH MUST carry Upload-Complete; HEAD is no longer
# rejected for carrying headers; inconsistent-length problem type.
V7 = [
    Case(
        "create",
        "POST",
        "collection",
        201,
        version(7, Upload_Complete="?0", Upload_Length="10"),
        expect={"Upload-Complete": "?0", "Upload-Offset": "0"},
    ),
    Case(
        "HEAD with Upload-Offset is answered",
        "HEAD",
        "half",
        204,
        version(7, Upload_Offset="5"),
        expect={"Upload-Offset": "5", "Upload-Length": "10"},
    ),
    Case(
        "append (204)",
        "PATCH",
        "half",
        204,
        version(7, Upload_Offset="5", Upload_Complete="?0") | PARTIAL,
        b"56",
        expect={"Upload-Complete": "?0", "Upload-Offset": "7"},
    ),
    Case(
        "the last append (200)",
        "PATCH",
        "half",
        200,
        version(7, Upload_Offset="5", Upload_Complete="?1") | PARTIAL,
        b"56789",
        expect={"Upload-Complete": "?1", "Upload-Offset": "10"},
    ),
    Case(
        "append without Upload-Complete",
        "PATCH",
        "half",
        400,
        version(7, Upload_Offset="5") | PARTIAL,
        b"5",
        then_offset=5,
    ),
    Case(
        "inconsistent length",
        "POST",
        "collection",
        400,
        version(7, Upload_Complete="?1", Upload_Length="3"),
        b"abcd",
        expect={"problem-type": PROBLEMS + "inconsistent-upload-length"},
    ),
]

TABLES = {3: V3, 4: V4, 5: V5, 6: V6, 7: V7}
CASES = [(n, case) for n, table in TABLES.items() for case in table]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("interop") / "data").start()
    yield proc
    proc.stop()


@pytest.fixture
def http(shared: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared.url, timeout=30) as client:
        yield client


@pytest.mark.parametrize(("n", "case"), CASES, ids=[f"v{n}-{case}" for n, case in CASES])
def test_table(http: httpx.Client, n: int, case: Case) -> None:
    check(http, n, case)


def test_upload_limit_names_the_lifetime_as_each_version_does(http: httpx.Client) -> None:
    for n, key in ((6, "expires"), (7, "max-age"), (8, "max-age")):
        url = make(http, n, "half")
        limit = http.head(url, headers=version(n)).headers["Upload-Limit"]
        assert limit.startswith(f"max-size={MAX}, {key}="), (n, limit)


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7, 8])
def test_104_speaks_the_requested_version(shared: ServerProcess, n: int) -> None:
    flag = "Upload-Incomplete: ?0" if n == 3 else "Upload-Complete: ?1"
    head = (
        f"POST /files/ HTTP/1.1\r\nHost: 127.0.0.1:{shared.port}\r\n"
        f"Upload-Draft-Interop-Version: {n}\r\n{flag}\r\nContent-Length: 3\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", shared.port), timeout=10) as raw:
        raw.sendall(head.encode())
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += raw.recv(4096)
        raw.sendall(b"abc")
    status, *fields = interim.split(b"\r\n\r\n")[0].decode().split("\r\n")
    headers = dict(field.split(": ", 1) for field in fields)
    assert status == "HTTP/1.1 104 Upload Resumption Supported"
    assert headers["Upload-Draft-Interop-Version"] == str(n)
    assert "/files/" in headers["Location"]
    assert ("Upload-Limit" in headers) == (n >= 6)


def test_one_upload_spoken_to_in_two_versions(http: httpx.Client) -> None:
    """The versions are dialects over the same resources, chosen per request."""
    url = make(http, 3, "half")
    head = http.head(url, headers=version(8))
    assert (head.headers["Upload-Offset"], head.headers["Upload-Complete"]) == ("5", "?0")
    done = http.patch(
        url, headers=version(5, Upload_Offset="5", Upload_Complete="?1"), content=b"56789"
    )
    assert (done.status_code, done.headers["Upload-Complete"]) == (201, "?1")
    assert http.head(url, headers=version(3)).headers["Upload-Incomplete"] == "?0"
    assert http.get(url).content == b"0123456789"
