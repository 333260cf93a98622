"""moto's standalone S3 server as a real process on a free loopback port, for the S3 tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3  # type: ignore[import-untyped]
import httpx

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class MotoServer:
    """`python -m moto.server`: speaks the S3 wire protocol over HTTP, keeps objects in RAM."""

    def __init__(self, log_dir: Path) -> None:
        self.port = 0  # until started: moto binds port 0 and logs the port it got
        self.log_path = log_dir / f"moto-{uuid.uuid4().hex[:8]}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        log = open(self.log_path, "ab")  # the child process owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **CREDENTIALS},
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto exited early:\n{self.log_path.read_text()}")
            bound = re.search(r"Running on http://127\.0\.0\.1:(\d+)", self.log_path.read_text())
            if bound is None:
                time.sleep(0.05)  # poll interval, bounded by the deadline
                continue
            self.port = int(bound[1])
            try:
                httpx.get(f"{self.url}/moto-api/", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("moto did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def client(self) -> object:
        """A plain boto3 client, to look at the bucket the way an operator would."""
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def new_bucket(self) -> str:
        name = f"upslice-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
        return name

    def server_args(self, bucket: str, prefix: str = "uploads/") -> list[str]:
        store = f"s3://{bucket}/{prefix.rstrip('/')}"
        return ["--store", store, "--s3-endpoint", self.url, "--s3-path-style"]
