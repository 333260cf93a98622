"""`upslice fsck` against a data directory a real server filled, then damaged by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SMALL_CHUNKS
from tests.server_process import ServerProcess
from tests.taskflow import create, put_chunk, random_bytes

ORPHAN_ID = "a" * 26


def upslice(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "upslice", *args], capture_output=True, text=True, timeout=120
    )


def fsck(data_dir: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = upslice("fsck", "--data-dir", str(data_dir), "--json", *args)
    assert result.returncode in (0, 1), result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return result.returncode, report


def age(path: Path, seconds: float = 7200) -> Path:
    """Make `path` look as old as bytes a crash left behind long ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def left_behind(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return age(path)


def problems(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["problem"], f["uploadId"]) for f in report["findings"]}


class Filled:
    """One server's worth of uploads: `done` ids are complete, `open` ids still receiving."""

    def __init__(self, tmp_path: Path, done: int, unfinished: int) -> None:
        self.data_dir = tmp_path / "data"
        server = ServerProcess(self.data_dir, *SMALL_CHUNKS).start()
        self.done: list[str] = []
        self.open: list[str] = []
        try:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                for seed in range(1, done + 1):
                    data = random_bytes(1500, seed)
                    task = create(http, data, 1024).json()
                    put_chunk(http, task, 0, data[:1024])
                    assert put_chunk(http, task, 1, data[1024:]).json()["done"]
                    self.done.append(task["id"])
                for seed in range(100, 100 + unfinished):
                    data = random_bytes(1500, seed)
                    task = create(http, data, 1024).json()
                    put_chunk(http, task, 0, data[:1024])
                    self.open.append(task["id"])
        finally:
            server.stop()

    def path(self, kind: str, name: str) -> Path:
        return self.data_dir / kind / name


def test_a_healthy_store_is_clean(tmp_path: Path) -> None:
    store = Filled(tmp_path, done=1, unfinished=1)
    code, report = fsck(store.data_dir)
    assert code == 0 and report["clean"] and report["findings"] == []
    assert report["records"] == 2 and report["items"] == 2
    text = upslice("fsck", "--data-dir", str(store.data_dir))
    assert text.returncode == 0 and "clean" in text.stdout


def test_finds_every_kind_of_damage_and_repairs_only_the_safe_ones(tmp_path: Path) -> None:
    store = Filled(tmp_path, done=4, unfinished=2)
    gone_file, resized, stale, published = store.done
    bytes_gone, early = store.open
    old_orphan = left_behind(store.path("files", ORPHAN_ID), 10)
    young_orphan = store.path("partial", "b" * 26)
    young_orphan.write_bytes(b"y" * 20)  # maybe a create in flight: never judged
    leftover = left_behind(store.path("staging", f"{bytes_gone}.0123456789abcdef"), 30)
    store.path("files", gone_file).unlink()
    with store.path("files", resized).open("ab") as handle:
        handle.write(b"extra")
    left_behind(store.path("partial", stale), 1500)
    store.path("partial", bytes_gone).unlink()
    store.path("partial", early).rename(store.path("files", early))  # a crash mid-completion

    code, report = fsck(store.data_dir)
    assert code == 1 and not report["clean"]
    assert problems(report) == {
        ("orphan-bytes", ORPHAN_ID),
        ("orphan-bytes", bytes_gone),  # the staging leftover
        ("file-gone", gone_file),
        ("size-mismatch", resized),
        ("stale-partial", stale),
        ("bytes-gone", bytes_gone),
        ("published-early", early),
    }
    assert report["skippedYoung"] == 1 and young_orphan.exists()

    code, report = fsck(store.data_dir, "--repair")
    assert code == 1  # file-gone, size-mismatch and published-early need a human
    repaired = {(f["problem"], f["uploadId"]) for f in report["findings"] if f["repaired"]}
    assert repaired == {
        ("orphan-bytes", ORPHAN_ID),
        ("orphan-bytes", bytes_gone),
        ("stale-partial", stale),
        ("bytes-gone", bytes_gone),
    }
    assert not old_orphan.exists() and not leftover.exists() and young_orphan.exists()
    assert not store.path("partial", stale).exists()
    for complete in (resized, stale, published):
        assert store.path("files", complete).exists()  # never a complete upload's bytes
    assert store.path("files", early).exists()

    code, report = fsck(store.data_dir)
    assert code == 1
    assert problems(report) == {
        ("file-gone", gone_file),
        ("size-mismatch", resized),
        ("published-early", early),
    }
    server = ServerProcess(store.data_dir, *SMALL_CHUNKS).start()
    try:
        assert httpx.get(f"{server.url}/api/task/{bytes_gone}").status_code == 404
        assert httpx.get(f"{server.url}/api/task/{published}/file").status_code == 200
    finally:
        server.stop()


def test_the_text_output_has_a_line_per_finding_and_a_summary(tmp_path: Path) -> None:
    store = Filled(tmp_path, done=0, unfinished=1)
    left_behind(store.path("partial", ORPHAN_ID), 7)
    result = upslice("fsck", "--data-dir", str(store.data_dir), "--repair")
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout  # the only damage was repaired
    assert lines[0].startswith("orphan-bytes") and f"partial/{ORPHAN_ID}" in lines[0]
    assert "removed 7 bytes" in lines[0]
    assert "1 orphan-bytes; repaired 1" in lines[-1]


@pytest.mark.parametrize(
    "args", [("--data-dir", "/nonexistent/upslice"), ("--grace-seconds", "-1"), ("--bogus",)]
)
def test_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = upslice("fsck", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert not Path("/nonexistent/upslice").exists()
