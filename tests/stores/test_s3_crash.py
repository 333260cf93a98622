"""A node killed between S3 calls and the record's update comes back and finishes the upload.

The server SIGKILLs itself at a crash point (UPSLICE_CRASH_AT): after an UploadPart, before
the segment is recorded; and after CompleteMultipartUpload, before the record says complete.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import cast

import httpx
import pytest
from tusclient import client as tus_client

from tests.s3_server import CREDENTIALS, MotoServer
from tests.server_process import ServerProcess
from tests.stores.test_s3_server import leftovers
from tests.taskflow import chunk_of, create, md5_hex, put_chunk
from upslice.client.hashing import whole_checksum

MiB = 1024 * 1024


def crashing_server(moto: MotoServer, tmp_path: Path, point: str) -> tuple[ServerProcess, str]:
    bucket = moto.new_bucket()
    env = {**CREDENTIALS, "UPSLICE_CRASH_AT": point}
    return ServerProcess(tmp_path / "data", *moto.server_args(bucket), env=env).start(), bucket


def restarted(server: ServerProcess) -> ServerProcess:
    assert server.proc is not None and server.proc.wait(20) != 0  # it died at the point
    server.env = dict(CREDENTIALS)
    return server.start()


def wait_done(client: httpx.Client, task_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 30
    status: dict[str, object] = client.get(f"/api/task/{task_id}").json()
    while not status["done"] and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the condition: startup recovery finishes it
        status = client.get(f"/api/task/{task_id}").json()
    return status


@pytest.mark.parametrize("point", ["s3:part-uploaded", "complete:published"])
def test_tasks_api_survives_a_crash_between_s3_and_the_record(
    moto_s3: MotoServer, tmp_path: Path, point: str
) -> None:
    server, bucket = crashing_server(moto_s3, tmp_path, point)
    try:
        data = os.urandom(10 * MiB + 99)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            task = create(client, data, 5 * MiB).json()
            sent = 0
            with pytest.raises(httpx.TransportError):  # the server dies answering a chunk
                for index in range(task["chunkCount"]):
                    put_chunk(client, task, index, chunk_of(data, task, index))
                    sent += 1
            assert sent == (0 if point == "s3:part-uploaded" else task["chunkCount"] - 1)
        restarted(server)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            again = range(sent, task["chunkCount"]) if point == "s3:part-uploaded" else ()
            for index in again:  # the chunks that were never answered
                assert put_chunk(client, task, index, chunk_of(data, task, index)).is_success
            status = wait_done(client, task["id"])
            assert status["done"] and status["hash"] == md5_hex(data), status
            assert client.get(f"/api/task/{task['id']}/file").content == data
        assert leftovers(moto_s3, bucket) == {"multipart": [], "pending": []}
    finally:
        server.stop()


def test_tus_append_survives_a_crash_after_a_part_upload(
    moto_s3: MotoServer, tmp_path: Path
) -> None:
    server, bucket = crashing_server(moto_s3, tmp_path, "s3:part-uploaded")
    try:
        data = os.urandom(7 * MiB + 3)
        path = tmp_path / "tus.bin"
        path.write_bytes(data)
        checksum = whole_checksum("md5", md5_hex(data))  # verified: the hash runs on the appends
        uploader = tus_client.TusClient(f"{server.url}/files/").uploader(
            file_path=str(path),
            chunk_size=2 * MiB,
            metadata={"filename": "tus.bin", "checksum": checksum},
        )
        with pytest.raises(Exception):  # noqa: B017 - the node dies in the third append
            uploader.upload()
        url = cast(str, uploader.url)
        restarted(server)
        resumed = tus_client.TusClient(f"{server.url}/files/").uploader(
            file_path=str(path), chunk_size=2 * MiB, url=url
        )
        assert resumed.offset == 4 * MiB  # the cut append was not recorded: sent again
        resumed.upload()
        upload_id = url.rsplit("/", 1)[1]
        assert httpx.get(f"{server.url}/files/{upload_id}", timeout=30).content == data
        status = httpx.get(f"{server.url}/api/task/{upload_id}").json()
        assert status["hash"] == md5_hex(data)
        assert leftovers(moto_s3, bucket) == {"multipart": [], "pending": []}
    finally:
        server.stop()
