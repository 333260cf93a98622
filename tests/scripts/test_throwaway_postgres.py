"""The throwaway cluster's CLI, as the cluster helper and a developer use it."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "throwaway_postgres.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,  # as in CI: no terminal
        timeout=120,
    )


async def select_one(dsn: str) -> int:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        value: int = await conn.fetchval("SELECT 1")
        return value
    finally:
        await conn.close()


@pytest.fixture
def cluster_dir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="upslice-pg-cli-"))  # reachable by `postgres` under root
    yield base
    run("stop", str(base))
    shutil.rmtree(base, ignore_errors=True)


def test_start_prints_a_dsn_that_accepts_connections_until_stop(cluster_dir: Path) -> None:
    started = run("start", str(cluster_dir))
    assert started.returncode == 0, started.stderr
    dsn = started.stdout.strip()
    assert dsn.startswith("postgresql://upslice@127.0.0.1:") and dsn.endswith("/upslice")
    assert asyncio.run(select_one(dsn)) == 1
    stopped = run("stop", str(cluster_dir))
    assert stopped.returncode == 0, stopped.stderr
    with pytest.raises(OSError):
        asyncio.run(select_one(dsn))
    assert run("stop", str(cluster_dir)).returncode == 0  # stopping twice is fine


def test_a_directory_the_server_cannot_reach_is_a_clear_error(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root hands the cluster to another user")
    failed = run("start", str(tmp_path / "cluster"))  # pytest's tmp dirs are 0700 root
    assert failed.returncode == 1
    assert "cannot reach" in failed.stderr and "tempfile.mkdtemp" in failed.stderr
