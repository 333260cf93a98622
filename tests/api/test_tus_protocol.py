"""tus 1.0 against the real server: one request/expect table per method, then the flows a
table cannot express (concatenation, expiry, locking, CORS)."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.tus_cases import ABSENT, ANY, OCTETS, TUS, Case, check, create
from tests.server_process import ServerProcess
from tests.waiting import in_flight, wait_for


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def digest(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {b64(hashlib.new(algorithm, data).digest())}"


EXTENSIONS = (
    "creation,creation-with-upload,creation-defer-length,termination,concatenation,"
    "concatenation-unfinished,expiration,checksum,checksum-trailer"
)

OPTIONS = [
    Case(
        "capabilities",
        "OPTIONS",
        "collection",
        204,
        expect={
            "Tus-Version": "1.0.0",
            "Tus-Extension": EXTENSIONS,
            "Tus-Max-Size": str(100 * 1024**3),
            "Tus-Checksum-Algorithm": "md5,sha1,sha256",
        },
    ),
    Case("no version needed", "OPTIONS", "fresh", 204, expect={"Tus-Version": "1.0.0"}),
]

POST = [
    Case(
        "create",
        "POST",
        "collection",
        201,
        TUS | {"Upload-Length": "10"},
        expect={"Location": ANY, "Upload-Expires": ANY, "Upload-Offset": ABSENT},
    ),
    Case("defer length", "POST", "collection", 201, TUS | {"Upload-Defer-Length": "1"}),
    Case(
        "metadata with a bare key",
        "POST",
        "collection",
        201,
        TUS | {"Upload-Length": "1", "Upload-Metadata": "filename YS50eHQ=,is_confidential"},
    ),
    Case(
        "creation with upload",
        "POST",
        "collection",
        201,
        OCTETS | {"Upload-Length": "10"},
        b"01234",
        expect={"Upload-Offset": "5", "Upload-Expires": ANY},
    ),
    Case(
        "creation with the whole upload",
        "POST",
        "collection",
        201,
        OCTETS | {"Upload-Length": "5", "Upload-Checksum": digest("sha1", b"01234")},
        b"01234",
        expect={"Upload-Offset": "5", "Upload-Expires": ABSENT},
    ),
    Case("empty file", "POST", "collection", 201, TUS | {"Upload-Length": "0"}),
    Case(
        "partial",
        "POST",
        "collection",
        201,
        TUS | {"Upload-Length": "3", "Upload-Concat": "partial"},
    ),
    Case(
        "no Tus-Resumable",
        "POST",
        "collection",
        412,
        {"Upload-Length": "10"},
        expect={"Tus-Version": "1.0.0"},
    ),
    Case(
        "unsupported version",
        "POST",
        "collection",
        412,
        {"Tus-Resumable": "0.2.2", "Upload-Length": "10"},
        expect={"Tus-Version": "1.0.0"},
    ),
    Case("no length", "POST", "collection", 400, TUS),
    Case(
        "length and deferral",
        "POST",
        "collection",
        400,
        TUS | {"Upload-Length": "10", "Upload-Defer-Length": "1"},
    ),
    Case("deferral is not 1", "POST", "collection", 400, TUS | {"Upload-Defer-Length": "2"}),
    Case("negative length", "POST", "collection", 400, TUS | {"Upload-Length": "-1"}),
    Case("non-numeric length", "POST", "collection", 400, TUS | {"Upload-Length": "ten"}),
    Case("beyond Tus-Max-Size", "POST", "collection", 413, TUS | {"Upload-Length": str(10**15)}),
    *[
        Case(
            f"metadata {bad!r}".replace("\\t", "<tab>"),  # an id to name on a command line
            "POST",
            "collection",
            400,
            TUS | {"Upload-Length": "1", "Upload-Metadata": bad},
        )
        for bad in (
            "name !!!",
            "a YQ==,a YQ==",
            "a YQ==,,b",
            "a  YQ==",
            "a YQ== b",
            "k\tYQ==",
            "a YQ",
        )
    ],
    Case(
        "metadata checksum with sha1",
        "POST",
        "collection",
        400,
        TUS
        | {
            "Upload-Length": "1",
            "Upload-Metadata": "checksum " + b64(digest("sha1", b"x").encode()),
        },
    ),
    Case(
        "body that is not offset+octet-stream",
        "POST",
        "collection",
        415,
        TUS | {"Upload-Length": "10", "Content-Type": "text/plain"},
        b"01234",
    ),
    Case(
        "creation with upload, wrong checksum",
        "POST",
        "collection",
        460,
        OCTETS | {"Upload-Length": "10", "Upload-Checksum": digest("sha256", b"other")},
        b"01234",
        expect={"Location": ANY},
    ),
    Case(
        "unsupported checksum algorithm",
        "POST",
        "collection",
        400,
        OCTETS | {"Upload-Length": "10", "Upload-Checksum": "crc32 AAAAAA=="},
        b"01234",
    ),
    Case("bad Upload-Concat", "POST", "collection", 400, TUS | {"Upload-Concat": "whole"}),
    Case(
        "final with Upload-Length",
        "POST",
        "collection",
        400,
        TUS | {"Upload-Length": "3", "Upload-Concat": "final;/files/AAAAAAAAAAAAAAAAAAAAAA"},
    ),
    Case(
        "final of an unknown upload",
        "POST",
        "collection",
        404,
        TUS | {"Upload-Concat": "final;/files/AAAAAAAAAAAAAAAAAAAAAA"},
    ),
    Case(
        "final of a foreign URL", "POST", "collection", 400, TUS | {"Upload-Concat": "final;/x/y"}
    ),
]

HEAD = [
    Case(
        "fresh",
        "HEAD",
        "fresh",
        200,
        TUS,
        expect={
            "Upload-Offset": "0",
            "Upload-Length": "10",
            "Cache-Control": "no-store",
            "Upload-Expires": ANY,
            "Upload-Defer-Length": ABSENT,
            "Upload-Metadata": ABSENT,
        },
    ),
    Case("half", "HEAD", "half", 200, TUS, expect={"Upload-Offset": "5"}),
    Case(
        "deferred",
        "HEAD",
        "deferred",
        200,
        TUS,
        expect={"Upload-Defer-Length": "1", "Upload-Length": ABSENT},
    ),
    Case(
        "done", "HEAD", "done", 200, TUS, expect={"Upload-Offset": "10", "Upload-Expires": ABSENT}
    ),
    Case(
        "metadata echoed",
        "HEAD",
        "meta",
        200,
        TUS,
        expect={"Upload-Metadata": "filename YS50eHQ=,flag"},
    ),
    Case("partial", "HEAD", "partial", 200, TUS, expect={"Upload-Concat": "partial"}),
    Case("final", "HEAD", "final", 200, TUS, expect={"Upload-Length": "6", "Upload-Offset": "6"}),
    Case("missing", "HEAD", "missing", 404, TUS),
    Case("no Tus-Resumable", "HEAD", "fresh", 412, expect={"Tus-Version": "1.0.0"}),
]

PATCH = [
    Case(
        "append the rest",
        "PATCH",
        "half",
        204,
        OCTETS | {"Upload-Offset": "5"},
        b"56789",
        expect={"Upload-Offset": "10", "Upload-Expires": ABSENT},
    ),
    Case(
        "append some",
        "PATCH",
        "half",
        204,
        OCTETS | {"Upload-Offset": "5"},
        b"56",
        expect={"Upload-Offset": "7", "Upload-Expires": ANY},
    ),
    Case(
        "empty append",
        "PATCH",
        "half",
        204,
        OCTETS | {"Upload-Offset": "5"},
        expect={"Upload-Offset": "5"},
    ),
    Case(
        "wrong offset",
        "PATCH",
        "half",
        409,
        OCTETS | {"Upload-Offset": "0"},
        b"01234",
        then_offset=5,
    ),
    Case(
        "offset ahead", "PATCH", "half", 409, OCTETS | {"Upload-Offset": "7"}, b"78", then_offset=5
    ),
    Case("no Upload-Offset", "PATCH", "half", 400, OCTETS, b"56"),
    Case(
        "non-numeric Upload-Offset", "PATCH", "half", 400, OCTETS | {"Upload-Offset": "five"}, b"56"
    ),
    Case(
        "wrong Content-Type",
        "PATCH",
        "half",
        415,
        TUS | {"Upload-Offset": "5", "Content-Type": "application/octet-stream"},
        b"56",
    ),
    Case("no Content-Type", "PATCH", "half", 415, TUS | {"Upload-Offset": "5"}, b"56"),
    Case(
        "no Tus-Resumable",
        "PATCH",
        "half",
        412,
        {"Content-Type": "application/offset+octet-stream", "Upload-Offset": "5"},
        b"56",
        expect={"Tus-Version": "1.0.0"},
    ),
    Case("missing upload", "PATCH", "missing", 404, OCTETS | {"Upload-Offset": "0"}, b"56"),
    Case(
        "past Upload-Length",
        "PATCH",
        "half",
        413,
        OCTETS | {"Upload-Offset": "5"},
        b"567890",
        then_offset=5,
    ),
    *[
        Case(
            f"{alg} checksum",
            "PATCH",
            "half",
            204,
            OCTETS | {"Upload-Offset": "5", "Upload-Checksum": digest(alg, b"567")},
            b"567",
            expect={"Upload-Offset": "8"},
        )
        for alg in ("md5", "sha1", "sha256")
    ],
    Case(
        "checksum mismatch stores nothing",
        "PATCH",
        "half",
        460,
        OCTETS | {"Upload-Offset": "5", "Upload-Checksum": digest("sha1", b"xyz")},
        b"567",
        then_offset=5,
    ),
    Case(
        "unsupported checksum algorithm",
        "PATCH",
        "half",
        400,
        OCTETS | {"Upload-Offset": "5", "Upload-Checksum": "crc32 AAAAAA=="},
        b"567",
        then_offset=5,
    ),
    Case(
        "malformed checksum",
        "PATCH",
        "half",
        400,
        OCTETS | {"Upload-Offset": "5", "Upload-Checksum": "sha1 !!"},
        b"567",
    ),
    Case(
        "declare the deferred length",
        "PATCH",
        "deferred",
        204,
        OCTETS | {"Upload-Offset": "0", "Upload-Length": "4"},
        b"ab",
        expect={"Upload-Offset": "2"},
    ),
    Case(
        "declare and finish",
        "PATCH",
        "deferred",
        204,
        OCTETS | {"Upload-Offset": "0", "Upload-Length": "2"},
        b"ab",
        expect={"Upload-Offset": "2", "Upload-Expires": ABSENT},
    ),
    Case(
        "deferred, length still unknown",
        "PATCH",
        "deferred",
        204,
        OCTETS | {"Upload-Offset": "0"},
        b"abc",
        expect={"Upload-Offset": "3"},
    ),
    Case(
        "a different Upload-Length",
        "PATCH",
        "half",
        400,
        OCTETS | {"Upload-Offset": "5", "Upload-Length": "11"},
        b"56",
    ),
    Case("final upload", "PATCH", "final", 403, OCTETS | {"Upload-Offset": "6"}, b"x"),
    Case(
        "finished, offset at the end",
        "PATCH",
        "done",
        204,
        OCTETS | {"Upload-Offset": "10"},
        expect={"Upload-Offset": "10"},
    ),
    Case(
        "finished, offset before the end",
        "PATCH",
        "done",
        409,
        OCTETS | {"Upload-Offset": "5"},
        b"56789",
    ),
    Case(
        "method override",
        "POST",
        "half",
        204,
        OCTETS | {"Upload-Offset": "5", "X-HTTP-Method-Override": "PATCH"},
        b"56",
        expect={"Upload-Offset": "7"},
    ),
    Case("POST to an upload", "POST", "half", 405, OCTETS | {"Upload-Offset": "5"}, b"56"),
]

DELETE = [
    Case("terminate", "DELETE", "half", 204, TUS, then_status=404),
    Case("terminate a finished upload", "DELETE", "done", 204, TUS, then_status=404),
    Case("missing", "DELETE", "missing", 404, TUS),
    Case("no Tus-Resumable", "DELETE", "half", 412, then_status=200),
    Case(
        "method override",
        "POST",
        "half",
        204,
        TUS | {"X-HTTP-Method-Override": "DELETE"},
        then_status=404,
    ),
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """One server for the whole table: every case makes its own uploads."""
    proc = ServerProcess(tmp_path_factory.mktemp("tus") / "data", "--min-chunk-size", "1024")
    proc.start()
    with httpx.Client(base_url=proc.url, timeout=30) as http:
        yield http
    proc.stop()


@pytest.mark.parametrize("case", OPTIONS + POST + HEAD + PATCH + DELETE, ids=str)
def test_table(shared: httpx.Client, case: Case) -> None:
    check(shared, case)


# ---- flows -------------------------------------------------------------------------------


def test_location_is_absolute_and_the_upload_is_a_task(
    client: httpx.Client, server: ServerProcess
) -> None:
    meta = f"filename {b64('ünï.txt'.encode())},filetype {b64(b'text/plain')}"
    url = create(client, {"Upload-Length": "3", "Upload-Metadata": meta, **OCTETS}, b"abc")
    assert url.startswith(f"{server.url}/files/")
    task = client.get(f"/api/task/{url.rsplit('/', 1)[1]}").json()
    assert task["done"] and task["protocol"] == "tus"
    assert (task["fileName"], task["fileType"]) == ("ünï.txt", "text/plain")
    download = client.get(url)
    assert download.content == b"abc"
    assert download.headers["Content-Type"].startswith("text/plain")
    assert "filename*=UTF-8''%C3%BCn%C3%AF.txt" in download.headers["Content-Disposition"]
    assert client.get(url, headers={"Range": "bytes=1-"}).content == b"bc"


def test_download_of_an_unfinished_upload_is_refused(client: httpx.Client) -> None:
    url = create(client, {"Upload-Length": "3"})
    assert client.get(url).status_code == 409


def test_concatenation(client: httpx.Client) -> None:
    parts = [
        create(client, {"Upload-Length": str(len(b)), "Upload-Concat": "partial", **OCTETS}, b)
        for b in (b"Hello, ", b"", b"world!")
    ]
    whole = hashlib.md5(b"Hello, world!").digest()
    meta = f"filename {b64(b'hi.txt')},checksum {b64(f'md5 {b64(whole)}'.encode())}"
    final = create(client, {"Upload-Concat": "final;" + " ".join(parts), "Upload-Metadata": meta})
    head = client.head(final, headers=TUS)
    assert head.headers["Upload-Concat"] == "final;" + " ".join(parts)
    assert head.headers["Upload-Length"] == head.headers["Upload-Offset"] == "13"
    assert client.get(final).content == b"Hello, world!"
    assert client.head(parts[0], headers=TUS).status_code == 404  # joined: removed


def test_concatenation_refuses_non_partial_uploads(client: httpx.Client) -> None:
    plain = create(client, {"Upload-Length": "1", **OCTETS}, b"x")
    response = client.post("/files/", headers=TUS | {"Upload-Concat": f"final;{plain}"})
    assert response.status_code == 400, response.text


def test_concatenation_whole_file_checksum_mismatch(client: httpx.Client) -> None:
    part = create(client, {"Upload-Length": "2", "Upload-Concat": "partial", **OCTETS}, b"ab")
    meta = f"checksum {b64(digest('sha256', b'zz').encode())}"
    response = client.post(
        "/files/", headers=TUS | {"Upload-Concat": f"final;{part}", "Upload-Metadata": meta}
    )
    assert response.status_code == 460
    assert client.head(part, headers=TUS).status_code == 200


def test_whole_file_checksum_mismatch_discards_the_upload(client: httpx.Client) -> None:
    meta = f"checksum {b64(digest('md5', b'something else').encode())}"
    url = create(client, {"Upload-Length": "4", "Upload-Metadata": meta})
    first = client.patch(url, headers=OCTETS | {"Upload-Offset": "0"}, content=b"ab")
    assert first.status_code == 204
    last = client.patch(url, headers=OCTETS | {"Upload-Offset": "2"}, content=b"cd")
    assert last.status_code == 460, last.text
    assert client.head(url, headers=TUS).status_code == 404  # never a complete, wrong file


def test_whole_file_checksum_match(client: httpx.Client) -> None:
    meta = f"checksum {b64(digest('sha256', b'abcd').encode())}"
    url = create(client, {"Upload-Length": "4", "Upload-Metadata": meta, **OCTETS}, b"abcd")
    task = client.get(f"/api/task/{url.rsplit('/', 1)[1]}").json()
    assert task["done"] and task["hash"] == hashlib.sha256(b"abcd").hexdigest()


def test_chunked_body_past_the_length(client: httpx.Client) -> None:
    url = create(client, {"Upload-Length": "4"})

    def body() -> Iterator[bytes]:
        yield b"abc"
        yield b"def"

    response = client.patch(url, headers=OCTETS | {"Upload-Offset": "0"}, content=body())
    assert response.status_code == 413
    assert client.head(url, headers=TUS).headers["Upload-Offset"] == "0"


def test_a_second_concurrent_patch_is_locked(client: httpx.Client, server: ServerProcess) -> None:
    url = create(client, {"Upload-Length": "100"})
    started = threading.Event()
    release = threading.Event()

    def slow_body() -> Iterator[bytes]:
        yield b"a" * 10
        started.set()
        release.wait(10)
        yield b"b" * 10

    results: list[httpx.Response] = []

    def first() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as other:
            headers = OCTETS | {"Upload-Offset": "0"}
            results.append(other.patch(url, headers=headers, content=slow_body()))

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(10)
    # The first PATCH is in the server, reading its body under the upload's append lock. A
    # probing PATCH would race it for that lock (and could refuse it), so the wait asks /health.
    wait_for(lambda: in_flight(server.url) >= 2, "the first PATCH to be in the server")
    second = client.patch(url, headers=OCTETS | {"Upload-Offset": "0"}, content=b"c")
    release.set()
    thread.join(10)
    assert second.status_code == 423, second.text
    assert results[0].status_code == 204 and results[0].headers["Upload-Offset"] == "20"


@pytest.fixture
def short_lived(tmp_path: Path) -> Iterator[ServerProcess]:
    """Uploads expire after a second; the sweeper does not run during the test."""
    args = ("--expiry-seconds", "1", "--sweep-interval-seconds", "3600")
    proc = ServerProcess(tmp_path / "data", *args).start()
    yield proc
    proc.stop()


def test_expired_upload_is_gone(short_lived: ServerProcess) -> None:
    with httpx.Client(base_url=short_lived.url) as client:
        extensions = client.options("/files/", headers=TUS).headers["Tus-Extension"].split(",")
        assert "expiration" in extensions, "uploads expire, however soon"
        url = create(client, {"Upload-Length": "10"})
        expires = client.head(url, headers=TUS).headers["Upload-Expires"]
        assert expires.endswith(" GMT")
        wait_for(lambda: client.head(url, headers=TUS).status_code == 410, "the upload to expire")
        patch = client.patch(url, headers=OCTETS | {"Upload-Offset": "0"}, content=b"x")
        assert patch.status_code == 410


@pytest.fixture
def cors_server(tmp_path: Path) -> Iterator[ServerProcess]:
    env = {"UPSLICE_CORS_CREDENTIALS": "true"}
    proc = ServerProcess(tmp_path / "data", "--cors-origin", "http://app.test", env=env).start()
    yield proc
    proc.stop()


def test_cors_preflight_and_exposed_headers(cors_server: ServerProcess) -> None:
    with httpx.Client(base_url=cors_server.url) as client:
        preflight = client.options(
            "/files/",
            headers={
                "Origin": "http://app.test",
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "tus-resumable,upload-offset,content-type",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == "http://app.test"
        assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
        assert "PATCH" in preflight.headers["Access-Control-Allow-Methods"]
        allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
        assert {"tus-resumable", "upload-offset", "content-type"} <= {
            h.strip() for h in allowed.split(",")
        }
        created = client.post(
            "/files/", headers=TUS | {"Origin": "http://app.test", "Upload-Length": "1"}
        )
        exposed = {
            h.strip().lower() for h in created.headers["Access-Control-Expose-Headers"].split(",")
        }
        for name in ("location", "upload-offset", "upload-length", "upload-metadata",
                     "upload-expires", "upload-concat", "upload-defer-length", "tus-resumable",
                     "tus-version", "tus-extension", "tus-max-size", "tus-checksum-algorithm",
                     "upload-complete", "upload-draft-interop-version", "upload-limit", "etag",
                     "content-disposition", "content-range"):  # fmt: skip
            assert name in exposed, name
        assert "*" not in exposed
        foreign = client.options(
            "/files/",
            headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "PATCH"},
        )
        assert "Access-Control-Allow-Origin" not in foreign.headers
