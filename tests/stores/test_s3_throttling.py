"""An S3 endpoint that throttles: botocore retries with backoff, then the client gets a 503
JSON body with Retry-After (never a 500). The endpoint is a real HTTP server on loopback that
answers HeadBucket and CreateMultipartUpload like S3 and every UploadPart with `SlowDown`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.s3_server import CREDENTIALS
from tests.server_process import ServerProcess
from tests.taskflow import create, put_chunk

MiB = 1024 * 1024
CREATED = (
    b'<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult>'
    b"<Bucket>b</Bucket><Key>k</Key><UploadId>upload-1</UploadId></InitiateMultipartUploadResult>"
)
SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class ThrottlingS3(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # botocore sends `Expect: 100-continue`: answer it
    part_attempts = 0

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _answer(self, status: int, body: bytes = b"") -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._answer(200)

    def do_POST(self) -> None:
        self._answer(200, CREATED)

    def do_PUT(self) -> None:
        type(self).part_attempts += 1
        self._answer(503, SLOW_DOWN)


@pytest.fixture
def throttling_s3() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ThrottlingS3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_throttling_is_retried_then_a_503_with_retry_after(
    throttling_s3: str, tmp_path: Path
) -> None:
    args = ("--store", "s3://b/p", "--s3-endpoint", throttling_s3, "--s3-path-style",
            "--s3-max-attempts", "3")  # fmt: skip
    server = ServerProcess(tmp_path / "data", *args, env=CREDENTIALS).start()
    try:
        data = b"x" * (5 * MiB + 1)
        with httpx.Client(base_url=server.url, timeout=60) as http:
            task = create(http, data, 5 * MiB).json()
            reply = put_chunk(http, task, 0, data[: 5 * MiB])
        assert reply.status_code == 503
        assert reply.headers["Retry-After"] == "2"
        assert reply.json()["error"]["code"] == "store_busy"
        assert "throttling" in reply.json()["error"]["message"]
        assert ThrottlingS3.part_attempts >= 3  # botocore retried, with backoff between tries
    finally:
        server.stop()
