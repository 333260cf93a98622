"""`upslice serve --store s3://...` against moto's S3 server, through real HTTP clients.

Every test checks what an operator would check in the bucket afterwards: the finished object,
no open multipart upload (ListMultipartUploads), no incomplete-part object left behind, and
that the whole-file hash never read a byte back from S3.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from tusclient import client as tus_client

from tests.s3_server import CREDENTIALS, MotoServer
from tests.server_process import ServerProcess
from tests.taskflow import create, md5_hex, put_chunk
from upslice import Client
from upslice.client.hashing import whole_checksum

MiB = 1024 * 1024
PREFIX = "uploads/"
HASH_WAIT = 2.0  # short, so that the out-of-order test reaches the kept-copy fallback soon
# Long: a test that wants no read-back must not get one because a loaded machine hashed late.
PATIENT_HASH_WAIT = 300.0


@pytest.fixture(scope="module")
def bucket(moto_s3: MotoServer) -> str:
    return moto_s3.new_bucket()


@contextlib.contextmanager
def s3_node(
    moto_s3: MotoServer, bucket: str, data_dir: Path, hash_wait: float, prefix: str = PREFIX
) -> Iterator[ServerProcess]:
    args = (*moto_s3.server_args(bucket, prefix), "--s3-hash-wait-seconds", str(hash_wait))
    proc = ServerProcess(data_dir, *args, env=CREDENTIALS).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def s3_server(
    moto_s3: MotoServer, bucket: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("s3-node") / "data"
    with s3_node(moto_s3, bucket, data_dir, HASH_WAIT) as proc:
        yield proc


DOTTED = "up.loads/"  # a prefix with a dot: keys are split at the last one only


@pytest.fixture(scope="module")
def dotted(
    moto_s3: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, str]]:
    """A node storing under a prefix that holds a dot, in a bucket of its own."""
    bucket = moto_s3.new_bucket()
    data_dir = tmp_path_factory.mktemp("dotted-s3-node") / "data"
    with s3_node(moto_s3, bucket, data_dir, HASH_WAIT, DOTTED) as proc:
        yield proc, bucket


@pytest.fixture(scope="module")
def patient_bucket(moto_s3: MotoServer) -> str:
    """Its own bucket: what one node leaves there is not another node's orphan."""
    return moto_s3.new_bucket()


@pytest.fixture(scope="module")
def patient_s3_server(
    moto_s3: MotoServer, patient_bucket: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("patient-s3-node") / "data"
    with s3_node(moto_s3, patient_bucket, data_dir, PATIENT_HASH_WAIT) as proc:
        yield proc


def leftovers(moto: MotoServer, bucket: str, prefix: str = PREFIX) -> dict[str, list[str]]:
    """Open multipart uploads and helper objects: both must be empty once uploads finish."""
    s3: Any = moto.client()
    uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
    pending = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}partial/").get("Contents", [])
    return {
        "multipart": [u["Key"] for u in uploads],
        "pending": [o["Key"] for o in pending],
    }


def counters(server: ServerProcess) -> dict[str, int]:
    return cast(dict[str, int], httpx.get(f"{server.url}/health").json()["counters"])


def test_tasks_api_four_streams_hash_without_read_back(
    patient_s3_server: ServerProcess, moto_s3: MotoServer, patient_bucket: str, tmp_path: Path
) -> None:
    data = os.urandom(24 * MiB + 123)
    path = tmp_path / "four-streams.bin"
    path.write_bytes(data)
    with Client(patient_s3_server.url) as client:
        task = client.upload(path, concurrency=4, chunk_size=5 * MiB)
        assert task.done
        client.download(task.id, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == data
    assert counters(patient_s3_server)["s3_bytes_read_back"] == 0
    head = cast(Any, moto_s3.client()).head_object(
        Bucket=patient_bucket, Key=f"{PREFIX}files/{task.id}"
    )
    assert head["ContentLength"] == len(data)
    assert leftovers(moto_s3, patient_bucket) == {"multipart": [], "pending": []}


def test_tuspy_appends_below_the_part_size(
    patient_s3_server: ServerProcess, moto_s3: MotoServer, patient_bucket: str, tmp_path: Path
) -> None:
    data = os.urandom(12 * MiB + 5)
    path = tmp_path / "tus.bin"
    path.write_bytes(data)
    checksum = whole_checksum("md5", md5_hex(data))  # verified: the hash runs on the appends
    uploader = tus_client.TusClient(f"{patient_s3_server.url}/files/").uploader(
        file_path=str(path),
        chunk_size=MiB,
        metadata={"filename": "tus.bin", "checksum": checksum},
    )
    uploader.upload()
    upload_id = cast(str, uploader.url).rsplit("/", 1)[1]
    response = httpx.get(f"{patient_s3_server.url}/files/{upload_id}", timeout=30)
    assert response.content == data
    task = httpx.get(f"{patient_s3_server.url}/api/task/{upload_id}").json()
    assert task["done"] and task["hash"] == md5_hex(data)
    assert counters(patient_s3_server)["s3_bytes_read_back"] == 0
    assert leftovers(moto_s3, patient_bucket) == {"multipart": [], "pending": []}


def test_out_of_order_chunks_ranges_and_instant_copies(
    s3_server: ServerProcess, moto_s3: MotoServer, bucket: str
) -> None:
    data = os.urandom(11 * MiB)
    read_back = counters(s3_server)["s3_bytes_read_back"]
    with httpx.Client(base_url=s3_server.url, timeout=60) as http:
        task = create(http, data, 5 * MiB).json()
        for index in (2, 0, 1):  # the last chunk first: it waits for the hash, then is kept
            chunk = data[index * 5 * MiB : (index + 1) * 5 * MiB]
            assert put_chunk(http, task, index, chunk).status_code == 200
        assert http.get(f"/api/task/{task['id']}").json()["hash"] == md5_hex(data)
        # the one chunk that arrived far ahead of the hash is the only one read back
        assert counters(s3_server)["s3_bytes_read_back"] - read_back == 1 * MiB
        part = http.get(f"/api/task/{task['id']}/file", headers={"Range": "bytes=5242870-5242889"})
        assert part.status_code == 206 and part.content == data[5242870:5242890]
        twin = create(http, data, 5 * MiB).json()
        assert twin["done"] and twin["instant"]
        assert http.delete(f"/api/task/{task['id']}").status_code == 204
        assert http.get(f"/api/task/{twin['id']}/file").content == data  # its own copy
    assert leftovers(moto_s3, bucket) == {"multipart": [], "pending": []}


def test_deleting_an_unfinished_upload_aborts_its_multipart_upload(
    s3_server: ServerProcess, moto_s3: MotoServer, bucket: str
) -> None:
    data = os.urandom(11 * MiB)
    with httpx.Client(base_url=s3_server.url, timeout=60) as http:
        task = create(http, data, 5 * MiB).json()
        assert put_chunk(http, task, 0, data[: 5 * MiB]).status_code == 200
        assert leftovers(moto_s3, bucket)["multipart"] == [f"{PREFIX}files/{task['id']}"]
        assert http.delete(f"/api/task/{task['id']}").status_code == 204
    assert leftovers(moto_s3, bucket) == {"multipart": [], "pending": []}


def test_a_missing_bucket_is_one_clear_startup_error(moto_s3: MotoServer, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "upslice", "serve", "--data-dir", str(tmp_path),
         *moto_s3.server_args("no-such-bucket")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **CREDENTIALS},
    )  # fmt: skip
    assert result.returncode == 2
    assert "bucket 'no-such-bucket' does not exist" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_gc_aborts_orphan_multipart_uploads_and_tails_but_not_live_ones(
    s3_server: ServerProcess, moto_s3: MotoServer, bucket: str
) -> None:
    s3: Any = moto_s3.client()
    orphan = s3.create_multipart_upload(Bucket=bucket, Key=f"{PREFIX}files/nosuchupload")
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}partial/nosuchupload/part.2", Body=b"tail")
    with httpx.Client(base_url=s3_server.url, timeout=60) as http:
        live = http.post(
            "/files/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(8 * MiB)}
        )
        location = live.headers["location"]
        patch = http.patch(
            location,
            content=b"t" * MiB,
            headers={
                "Tus-Resumable": "1.0.0",
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert patch.status_code == 204
    live_id = location.rstrip("/").rsplit("/", 1)[1]
    result = subprocess.run(
        [sys.executable, "-m", "upslice", "gc", "--data-dir", str(s3_server.data_dir),
         "--grace-seconds", "0", *moto_s3.server_args(bucket)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **CREDENTIALS},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "removed 2 orphan item(s)" in result.stdout
    left = leftovers(moto_s3, bucket)
    assert left == {
        "multipart": [f"{PREFIX}files/{live_id}"],  # the live upload keeps its bytes
        "pending": [f"{PREFIX}partial/{live_id}/part.1"],
    }
    assert orphan["UploadId"] not in str(s3.list_multipart_uploads(Bucket=bucket))
    with httpx.Client(base_url=s3_server.url, timeout=60) as http:
        assert http.delete(location, headers={"Tus-Resumable": "1.0.0"}).status_code == 204
    assert leftovers(moto_s3, bucket) == {"multipart": [], "pending": []}


def test_a_wrong_declared_hash_is_a_clear_422(s3_server: ServerProcess) -> None:
    data = os.urandom(MiB)
    with httpx.Client(base_url=s3_server.url, timeout=60) as http:
        task = create(http, os.urandom(MiB), 5 * MiB).json()  # declares another file's hash
        reply = put_chunk(http, task, 0, data)
        assert http.delete(f"/api/task/{task['id']}").status_code == 204
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["code"] == "hash_mismatch" and error["actual"] == md5_hex(data)


def test_a_chunk_replaced_by_different_bytes_is_a_clear_409(
    s3_server: ServerProcess, moto_s3: MotoServer, bucket: str
) -> None:
    data = os.urandom(6 * MiB)
    with httpx.Client(base_url=s3_server.url, timeout=60) as http:
        task = create(http, data, 5 * MiB).json()
        assert put_chunk(http, task, 0, data[: 5 * MiB]).status_code == 200
        assert put_chunk(http, task, 0, os.urandom(5 * MiB)).status_code == 200  # hash reset
        reply = put_chunk(http, task, 1, data[5 * MiB :])
        assert http.delete(f"/api/task/{task['id']}").status_code == 204
    assert reply.status_code == 409, reply.text
    assert "create the upload again" in reply.json()["error"]["message"]
    assert leftovers(moto_s3, bucket) == {"multipart": [], "pending": []}  # copies too


def test_an_empty_file_completes_at_creation(
    s3_server: ServerProcess, moto_s3: MotoServer, bucket: str
) -> None:
    with httpx.Client(base_url=s3_server.url, timeout=60) as http:
        task = create(http, b"", 5 * MiB).json()
        assert task["done"], task
        file = http.get(f"/api/task/{task['id']}/file")
        assert file.status_code == 200 and file.content == b""
    assert leftovers(moto_s3, bucket) == {"multipart": [], "pending": []}


def test_a_deferred_length_tus_upload_ends_with_its_buffered_tail(
    s3_server: ServerProcess, moto_s3: MotoServer, bucket: str
) -> None:
    """Bytes below S3's smallest part wait as an incomplete part; when the length is
    declared afterwards, finishing uploads that part from the bucket."""
    data = os.urandom(3 * MiB + 17)
    tus = {"Tus-Resumable": "1.0.0"}
    octets = {**tus, "Content-Type": "application/offset+octet-stream"}
    with httpx.Client(base_url=s3_server.url, timeout=60) as http:
        created = http.post("/files/", headers={**tus, "Upload-Defer-Length": "1"})
        url = created.headers["Location"]
        tail_read = counters(s3_server)["s3_tail_bytes_read"]
        sent = http.patch(url, content=data, headers={**octets, "Upload-Offset": "0"})
        assert sent.status_code == 204, sent.text
        declared = {**octets, "Upload-Offset": str(len(data)), "Upload-Length": str(len(data))}
        finished = http.patch(url, content=b"", headers=declared)
        assert finished.status_code == 204, finished.text
        assert http.get(url).content == data
    assert counters(s3_server)["s3_tail_bytes_read"] - tail_read == len(data)
    assert leftovers(moto_s3, bucket) == {"multipart": [], "pending": []}


def test_one_tus_patch_longer_than_several_parts(
    patient_s3_server: ServerProcess, moto_s3: MotoServer, patient_bucket: str
) -> None:
    """One body is cut into parts as it streams (the last one short); none is read back."""
    data = os.urandom(12 * MiB + 333)
    tus = {"Tus-Resumable": "1.0.0"}
    headers = {**tus, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    with httpx.Client(base_url=patient_s3_server.url, timeout=120) as http:
        url = http.post("/files/", headers={**tus, "Upload-Length": str(len(data))}).headers[
            "Location"
        ]
        tails_read = counters(patient_s3_server)["s3_tail_bytes_read"]
        parts = counters(patient_s3_server)["s3_parts_uploaded"]
        pieces = (data[i : i + 7777] for i in range(0, len(data), 7777))  # parts cut mid-block
        sent = http.patch(url, content=pieces, headers=headers)
        assert sent.status_code == 204 and sent.headers["Upload-Offset"] == str(len(data))
        assert http.get(url).content == data
        part_size = http.get(f"/api/task/{url.rsplit('/', 1)[1]}").json()["chunkSize"]
    # Whole parts of the upload's part size, and the short last one went up with the body
    # that ended the upload, not as a tail.
    assert counters(patient_s3_server)["s3_parts_uploaded"] - parts == -(-len(data) // part_size)
    assert counters(patient_s3_server)["s3_tail_bytes_read"] == tails_read
    assert leftovers(moto_s3, patient_bucket) == {"multipart": [], "pending": []}


def test_a_prefix_with_a_dot_keeps_tails_and_copies_apart(
    dotted: tuple[ServerProcess, str], moto_s3: MotoServer
) -> None:
    """Incomplete parts and kept chunks are named `…/part.N`: a dot in the prefix must not
    be taken for the one before N."""
    server, bucket = dotted
    data = os.urandom(11 * MiB)
    tus = {"Tus-Resumable": "1.0.0"}
    octets = {**tus, "Content-Type": "application/offset+octet-stream"}
    with httpx.Client(base_url=server.url, timeout=60) as http:
        task = create(http, data, 5 * MiB).json()
        for index in (2, 0, 1):  # the last chunk first: it is kept, then read back
            chunk = data[index * 5 * MiB : (index + 1) * 5 * MiB]
            assert put_chunk(http, task, index, chunk).status_code == 200
        assert http.get(f"/api/task/{task['id']}/file").content == data
        url = http.post("/files/", headers={**tus, "Upload-Defer-Length": "1"}).headers["Location"]
        for offset in (0, MiB):  # two tails, the first dropped when the second replaces it
            piece = data[offset : offset + MiB]
            sent = http.patch(url, content=piece, headers={**octets, "Upload-Offset": str(offset)})
            assert sent.status_code == 204, sent.text
        end = {**octets, "Upload-Offset": str(2 * MiB), "Upload-Length": str(2 * MiB)}
        assert http.patch(url, content=b"", headers=end).status_code == 204
        assert http.get(url).content == data[: 2 * MiB]
    assert leftovers(moto_s3, bucket, DOTTED) == {"multipart": [], "pending": []}
