"""`upslice gc` and `--help`, run as a user would run them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.server_process import ServerProcess
from tests.syscalls import SyncTrace
from tests.taskflow import create, put_chunk, random_bytes
from tests.waiting import wait_past


def upslice(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "upslice", *args], capture_output=True, text=True, env=env
    )


def test_gc_removes_only_expired_unfinished_uploads(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, "--min-chunk-size", "1024", "--expiry-seconds", "1").start()
    with httpx.Client(base_url=server.url) as http:
        data = random_bytes(2048)
        stale = create(http, data, 1024).json()
        put_chunk(http, stale, 0, data[:1024])
        finished = create(http, data[:1024], 1024).json()
        put_chunk(http, finished, 0, data[:1024])
    server.stop()
    wait_past(stale["expiresAt"], "the stale task's expiry")
    result = upslice("gc", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "removed 1 expired upload" in result.stdout
    assert not (data_dir / "partial" / stale["id"]).exists()
    assert (data_dir / "files" / finished["id"]).exists()
    again = upslice("gc", "--data-dir", str(data_dir))
    assert "removed 0 expired upload" in again.stdout


def test_serve_help_names_every_setting() -> None:
    result = upslice("serve", "--help", env={**os.environ, "COLUMNS": "300"})
    assert result.returncode == 0
    for flag in (
        "--host", "--port", "--data-dir", "--min-chunk-size", "--max-chunk-size",
        "--max-file-size", "--expiry-seconds", "--fsync", "--log-level", "--chaos",
        "--no-demo", "UPSLICE_PORT", "--shutdown-timeout",
    ):  # fmt: skip
        assert flag in result.stdout, flag


def test_fsync_mode_serves_uploads(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", "--min-chunk-size", "1024", "--fsync").start()
    assert server.proc is not None
    try:
        with (
            httpx.Client(base_url=server.url) as http,
            SyncTrace(server.proc.pid, tmp_path / "strace.out") as trace,
        ):
            data = random_bytes(3000)
            task = create(http, data, 1024).json()
            for index in range(3):
                reply = put_chunk(http, task, index, data[index * 1024 : (index + 1) * 1024])
                synced = [p for p in trace.synced() if task["id"] in p.name]
                assert len(synced) >= index + 1, f"chunk {index} acknowledged before its fsync"
            assert http.get(reply.json()["fileUrl"]).content == data
    finally:
        server.stop()


def test_gc_removes_orphan_bytes_older_than_the_grace_period(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, "--min-chunk-size", "1024").start()
    with httpx.Client(base_url=server.url) as http:
        data = random_bytes(2048)
        kept = create(http, data, 1024).json()
        put_chunk(http, kept, 0, data[:1024])
    server.stop()
    old, young = data_dir / "partial" / ("o" * 26), data_dir / "files" / ("y" * 26)
    old.write_bytes(b"x" * 100)
    young.write_bytes(b"x" * 5)
    then = time.time() - 7200
    os.utime(old, (then, then))
    result = upslice("gc", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "removed 1 orphan item(s) (100 bytes)" in result.stdout
    assert not old.exists() and young.exists()
    assert (data_dir / "partial" / kept["id"]).exists()
    result = upslice("gc", "--data-dir", str(data_dir), "--grace-seconds", "0")
    assert "removed 1 orphan item(s) (5 bytes)" in result.stdout
    assert not young.exists() and (data_dir / "partial" / kept["id"]).exists()
