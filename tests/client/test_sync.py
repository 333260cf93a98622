"""The blocking Client against a real server: round trips, resumption, errors, downloads."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest

from tests.client.helpers import KiB, MiB, bytes_received, make_file, md5_of
from tests.server_process import ServerProcess
from upslice import Client
from upslice.client import IntegrityError, NotFound, Progress, RetriesExhausted, RetryPolicy
from upslice.client.hashing import hash_file, upload_checksum


def test_upload_then_download_is_byte_identical(server: ServerProcess, tmp_path: Path) -> None:
    source = make_file(tmp_path / "photo.jpg", 3 * MiB + 123)
    events: list[Progress] = []
    with Client(server.url) as client:
        task = client.upload(source, chunk_size=64 * KiB, concurrency=4, progress=events.append)
        assert task.done and task.state == "complete"
        assert task.hash == md5_of(source)
        assert task.file_type == "image/jpeg"
        assert task.chunk_count == 49
        assert events[-1].phase == "done" and events[-1].sent_bytes == source.stat().st_size
        assert {e.phase for e in events} == {"uploading", "done"}  # hashed beside, unseen

        out = client.download(task.id, tmp_path / "copy.jpg")
        assert out.read_bytes() == source.read_bytes()
        assert not (tmp_path / "copy.jpg.part").exists()
        assert client.status(task.id).done
        assert task.id in [t.id for t in client.list()]

        client.delete(task.id)
        with pytest.raises(NotFound):
            client.status(task.id)


def test_sha256_and_file_objects(server: ServerProcess, tmp_path: Path) -> None:
    data = make_file(tmp_path / "x.bin", 200 * KiB + 7).read_bytes()
    with Client(server.url) as client:
        task = client.upload(io.BytesIO(data), file_name="mem.bin", hash_algorithm="sha256",
                             chunk_size=16 * KiB)  # fmt: skip
        assert task.hash_algorithm == "sha256" and task.file_name == "mem.bin"
        assert task.hash == hash_file(tmp_path / "x.bin", "sha256")
        assert client.download(task.id, tmp_path).read_bytes() == data  # a directory: own name
        assert (tmp_path / "mem.bin").exists()


def test_resume_sends_only_missing_chunks(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    source = make_file(tmp_path / "big.bin", 1 * MiB + 5 * KiB)
    data = source.read_bytes()
    chunk = 64 * KiB
    body = {
        "hash": md5_of(source),
        "fileName": "big.bin",
        "fileSize": len(data),
        "chunkSize": chunk,
    }
    created = client.post("/api/task", json=body).json()
    for index in (0, 3, 4, 16):  # an earlier run that got a few chunks through
        piece = data[index * chunk : (index + 1) * chunk]
        headers = {
            "Content-Type": "application/octet-stream",
            "Upload-Checksum": upload_checksum(piece),
        }
        client.put(f"/api/task/{created['id']}/chunk/{index}", content=piece, headers=headers)
    held = client.get(f"/api/task/{created['id']}").json()["uploadedBytes"]
    before = bytes_received(server.url)

    with Client(server.url) as upslice:  # hashing first finds the task by its hash
        task = upslice.upload(source, chunk_size=chunk, hash_first=True)
        assert task.id == created["id"] and task.done
        assert bytes_received(server.url) - before == len(data) - held
        again = upslice.upload(source, hash_first=True)  # finished: the same task, nothing sent
        assert again.done and again.id == task.id
        copy = upslice.upload(source, reuse=False, hash_first=True)  # a copy: instant, new
        assert copy.done and copy.instant and copy.id != task.id
        assert bytes_received(server.url) - before == len(data) - held


def test_download_resumes_a_part_file_and_checks_it(server: ServerProcess, tmp_path: Path) -> None:
    source = make_file(tmp_path / "doc.pdf", 700 * KiB)
    data = source.read_bytes()
    target = tmp_path / "out.pdf"
    part = tmp_path / "out.pdf.part"
    with Client(server.url) as client:
        task = client.upload(source, chunk_size=64 * KiB)
        part.write_bytes(data[:300_000])  # an interrupted earlier download
        seen: list[Progress] = []
        assert client.download(task.id, target, progress=seen.append).read_bytes() == data
        assert seen[0].done_bytes == 300_000  # it started where the .part file ended
        target.unlink()

        part.write_bytes(b"X" * 1000 + data[1000:300_000])  # a damaged one is not trusted
        with pytest.raises(IntegrityError):
            client.download(task.id, target)
        assert not part.exists() and not target.exists()
        assert client.download(task.id, target).read_bytes() == data


def test_errors_are_typed(server: ServerProcess, tmp_path: Path) -> None:
    with Client(server.url) as client:
        with pytest.raises(NotFound) as missing:
            client.status("no-such-task")
        assert missing.value.status == 404 and missing.value.code == "not_found"
    dead = ServerProcess(tmp_path / "dead")  # never started: nothing listens on its port
    fast = RetryPolicy(attempts=3, base=0.01, cap=0.02)
    with Client(dead.url, retry=fast) as client, pytest.raises(RetriesExhausted) as gave_up:
        client.status("x")
    assert gave_up.value.attempts == 3


def test_custom_headers_and_timeouts(server: ServerProcess) -> None:
    with Client(server.url, headers={"X-Trace": "t1"}, timeout=5.0) as client:
        assert client.aio.http.headers["x-trace"] == "t1"
        assert client.aio.http.timeout.read == 5.0
        assert client.health()["status"] == "ok"


def test_a_file_changed_during_upload_is_never_complete(
    server: ServerProcess, tmp_path: Path
) -> None:
    data = bytearray(make_file(tmp_path / "v.bin", 256 * KiB).read_bytes())
    buffer = io.BytesIO(data)

    def tamper(event: Progress) -> None:
        if event.phase == "uploading":  # hashed already: now the file changes under us
            buffer.getbuffer()[70_000] = data[70_000] ^ 0xFF

    with Client(server.url) as client:
        with pytest.raises(IntegrityError):
            client.upload(buffer, file_name="v.bin", chunk_size=64 * KiB, progress=tamper,
                          hash_first=True)  # fmt: skip
        (task,) = client.list()
        assert not client.status(task.id).done
