"""POST /api/upload with multipart/form-data, sent by the real curl binary.

The server caps form uploads at 2 MB here, so an over-cap body is cheap to send.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.host_app import HostApp
from tests.server_process import ServerProcess

CAP = 2_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("forms") / "data", "--form-max-size", str(CAP))
    yield proc.start()
    proc.stop()


def curl(*args: str) -> tuple[int, dict[str, Any]]:
    """Run curl; its exit status must be 0 (the server answered), the body is JSON."""
    binary = shutil.which("curl")
    if binary is None:
        pytest.fail("curl is not installed")
    proc = subprocess.run(
        [binary, "-sS", "-w", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    body, _, status = proc.stdout.rpartition("\n")
    return int(status), json.loads(body)


def stored(server: ServerProcess) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = httpx.get(f"{server.url}/api/tasks").json()["tasks"]
    return tasks


def partial_files(server: ServerProcess) -> list[Path]:
    return [p for p in server.data_dir.rglob("*") if p.is_file() and "partial" in p.parts]


def test_two_files_and_a_field(server: ServerProcess, tmp_path: Path) -> None:
    photo, notes = tmp_path / "photo.jpg", tmp_path / "notes.txt"
    photo.write_bytes(os.urandom(700_000))
    notes.write_text("remember the milk\n")
    status, body = curl(
        "-F",
        "album=holidays",
        "-F",
        f"photo=@{photo}",
        "-F",
        f"notes=@{notes};type=text/plain",
        f"{server.url}/api/upload",
    )
    assert status == 201, body
    first, second = body["files"]
    assert "url" not in body, "with two files there is no single url"
    for entry, path, field in ((first, photo, "photo"), (second, notes, "notes")):
        data = path.read_bytes()
        assert entry["field"] == field and entry["fileName"] == path.name
        assert entry["size"] == len(data)
        assert entry["hash"] == hashlib.md5(data).hexdigest()
        assert httpx.get(entry["url"]).content == data
        task = httpx.get(f"{server.url}/api/task/{entry['id']}").json()
        assert task["done"] and task["protocol"] == "form"
        assert task["metadata"]["album"] == "holidays"
    assert first["fileType"] == "image/jpeg" and second["fileType"] == "text/plain"


def form_body(file_size: int, boundary: str = "upslice-cap-test") -> bytes:
    """One file part of `file_size` random bytes, as multipart/form-data."""
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="f.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + os.urandom(file_size)
        + f"\r\n--{boundary}--\r\n".encode()
    )


@pytest.mark.parametrize("over", [0, 1], ids=["at-the-cap", "one-byte-over"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_the_cap_itself_is_allowed_and_one_byte_more_is_not(
    server: ServerProcess, chunked: bool, over: int
) -> None:
    """With Content-Length the whole body counts; chunked, what the parts carry."""
    overhead = len(form_body(0))
    body = form_body((CAP if chunked else CAP - overhead) + over)
    headers = {"Content-Type": "multipart/form-data; boundary=upslice-cap-test"}
    content: bytes | Iterator[bytes] = iter([body]) if chunked else body
    reply = httpx.post(f"{server.url}/api/upload", content=content, headers=headers, timeout=60)
    if over:
        assert reply.status_code == 413, reply.text
        assert reply.json()["error"]["formMaxSize"] == CAP
    else:
        assert reply.status_code == 201, reply.text
        assert reply.json()["files"][0]["size"] == len(body) - overhead


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_over_the_cap_is_413_and_nothing_is_kept(
    server: ServerProcess, tmp_path: Path, chunked: bool
) -> None:
    """With Content-Length it is refused before reading; chunked, once the cap is crossed."""
    small, big = tmp_path / "small.bin", tmp_path / "big.bin"
    small.write_bytes(os.urandom(1000))
    big.write_bytes(os.urandom(CAP + 1))
    before = {t["id"] for t in stored(server)}
    extra = ["-H", "Transfer-Encoding: chunked"] if chunked else []
    status, body = curl(*extra, "-F", f"a=@{small}", "-F", f"b=@{big}", f"{server.url}/api/upload")
    assert status == 413, body
    assert body["error"]["code"] == "too_large" and body["error"]["formMaxSize"] == CAP
    assert {t["id"] for t in stored(server)} == before, "the small file went too"
    assert partial_files(server) == []


def test_malformed_multipart_is_400_and_nothing_is_kept(
    server: ServerProcess, tmp_path: Path
) -> None:
    body_file = tmp_path / "body"
    body_file.write_bytes(
        b'--xyz\r\nContent-Disposition: form-data; name="a"; filename="a.txt"\r\n\r\nhello\r\n'
        b'--xyz\r\nContent-Disposition: form-data; name="b"; filename="b.txt"\r\n\r\ncut he'
    )
    before = {t["id"] for t in stored(server)}
    status, body = curl(
        "-H",
        "Content-Type: multipart/form-data; boundary=xyz",
        "--data-binary",
        f"@{body_file}",
        f"{server.url}/api/upload",
    )
    assert status == 400 and "malformed" in body["error"]["message"], body
    assert {t["id"] for t in stored(server)} == before, "a.txt, complete, was removed too"
    assert partial_files(server) == []


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["-d", "a=1"], 415, "multipart/form-data"),
        (["-F", "note=no file here"], 400, "no file part"),
        (["-H", "Content-Type: multipart/form-data", "-d", "x"], 400, "boundary"),
    ],
    ids=["urlencoded", "no-file", "no-boundary"],
)
def test_bad_forms_say_what_is_wrong(
    server: ServerProcess, args: list[str], status: int, message: str
) -> None:
    got, body = curl(*args, f"{server.url}/api/upload")
    assert got == status and message in body["error"]["message"], body


def test_each_file_names_its_field_type_and_hash_algorithm(server: ServerProcess) -> None:
    """A declared type's parameters are dropped, a type that is not one gives way to the
    name's, and each file remembers the form field it came in."""
    files = {
        "notes": ("notes.txt", b"remember the milk\n", "text/markdown; charset=utf-8"),
        "data": ("data.json", b"{}", "not a type"),
    }
    reply = httpx.post(f"{server.url}/api/upload", files=files, timeout=60)
    assert reply.status_code == 201, reply.text
    notes, data = reply.json()["files"]
    assert (notes["fileType"], data["fileType"]) == ("text/markdown", "application/json")
    for entry, field in ((notes, "notes"), (data, "data")):
        assert entry["field"] == field and entry["hashAlgorithm"] == "md5"
        task = httpx.get(f"{server.url}/api/task/{entry['id']}").json()
        assert task["metadata"]["field"] == field and task["fileType"] == entry["fileType"]


def test_a_form_upload_belongs_to_its_sender(host: HostApp) -> None:
    with host.client("erin") as erin, host.client("frank") as frank:
        reply = erin.post("/api/upload", files={"f": ("f.txt", b"hello", "text/plain")})
        assert reply.status_code == 201, reply.text
        task_id = reply.json()["files"][0]["id"]
        assert erin.get(f"/api/task/{task_id}").json()["done"]
        assert frank.get(f"/api/task/{task_id}").status_code == 404


@pytest.mark.parametrize("over", [0, 1], ids=["at-the-limit", "one-byte-over"])
def test_form_fields_up_to_the_metadata_limit(server: ServerProcess, over: int) -> None:
    """The fields a file carries as metadata may fill the limit exactly, not pass it."""
    from upslice.api.schemas import MAX_METADATA_BYTES

    base = len(json.dumps({"field": "f", "a": ""}))
    fields = {"a": "x" * (MAX_METADATA_BYTES - base + over)}
    assert len(json.dumps({"field": "f", **fields})) == MAX_METADATA_BYTES + over
    files = {"f": ("f.txt", b"hello", "text/plain")}
    reply = httpx.post(f"{server.url}/api/upload", data=fields, files=files, timeout=60)
    if over:
        assert reply.status_code == 400 and "form fields" in reply.json()["error"]["message"]
    else:
        assert reply.status_code == 201, reply.text
        assert reply.json()["files"][0]["size"] == 5
