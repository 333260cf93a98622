"""A really full disk (a 64 MiB tmpfs filled to the last byte): every route answers 507 with
JSON, never 500; DELETE still works and frees room; nothing acknowledged is lost."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server_process import ServerProcess
from tests.taskflow import chunk_of, create, put_chunk, random_bytes

CHUNK = 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): {mounted.stderr}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(path: Path) -> None:
    """Write until the filesystem refuses one more byte."""
    with open(path, "wb", buffering=0) as handle:
        with contextlib.suppress(OSError):
            while True:
                handle.write(b"\xff" * 65536)
        with contextlib.suppress(OSError):
            while True:
                handle.write(b"\xff")


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def test_a_full_disk_answers_507_everywhere_and_delete_frees_it(small_disk: Path) -> None:
    server = ServerProcess(small_disk / "data", "--min-chunk-size", "1024").start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            data = random_bytes(4 * CHUNK)
            kept = create(client, data, CHUNK, name="kept.bin").json()
            assert put_chunk(client, kept, 0, chunk_of(data, kept, 0)).status_code == 200
            doomed = create(client, random_bytes(8 * CHUNK), CHUNK, name="doomed.bin").json()
            doomed_data = random_bytes(8 * CHUNK, seed=3)
            for index in range(8):
                put_chunk(client, doomed, index, chunk_of(doomed_data, doomed, index))

            filler = small_disk / f"filler-{uuid.uuid4().hex}"
            fill(filler)
            assert free_bytes(small_disk) < 64 * 1024

            replies = {
                "create task": create(client, random_bytes(3 * CHUNK), CHUNK),
                "chunk": put_chunk(client, kept, 1, chunk_of(data, kept, 1)),
                "tus create": client.post(
                    "/files/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "100000"}
                ),
            }
            for route, reply in replies.items():
                assert reply.status_code == 507, (route, reply.status_code, reply.text)
                assert reply.json()["error"]["code"] == "insufficient_storage", route
            assert client.get("/health").status_code == 200

            before = free_bytes(small_disk)
            deleted = client.delete(f"/api/task/{doomed['id']}")
            assert deleted.status_code == 204, deleted.text  # the only way out must work
            assert free_bytes(small_disk) > before + 4 * CHUNK
            assert client.get(f"/api/task/{doomed['id']}").status_code == 404

            filler.unlink()  # room again: the kept task resumes with what it had
            status = client.get(f"/api/task/{kept['id']}").json()
            assert status["receivedChunks"] == [0]
            for index in (1, 2, 3):
                reply = put_chunk(client, kept, index, chunk_of(data, kept, index))
            assert reply.json()["done"]
            assert client.get(reply.json()["fileUrl"]).content == data
        assert "Traceback" not in server.log()
    finally:
        server.stop()
