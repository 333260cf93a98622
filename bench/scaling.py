"""Scaling-out rows: 1 worker vs `--workers 2`, the 3-node cluster behind nginx, PostgreSQL, and
50 concurrent small uploads; interleaved rounds, median and [min-max] per cell.

Every setup stays up for all rounds, and each round visits every setup in turn, so a slow
moment of this shared machine hits them all alike. The upload itself is `run.py`'s 4-stream
tasks-API client, handed in, so that these rows and the single-server rows use one client.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import statistics
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import psutil
from tests.cluster.harness import Cluster
from tests.server_process import ServerProcess

import lean

MiB = 1024 * 1024
SMALL_UPLOADS = 50


class Server(Protocol):
    @property
    def url(self) -> str: ...


# send the payload; return its seconds and how long after the last chunk it was done
Upload = Callable[[Server], tuple[float, float]]


@dataclass
class Series:
    name: str
    unit: str
    note: str = ""
    values: list[float] = field(default_factory=list)

    def cell(self) -> str:
        if not self.values:
            return "-"
        low, mid, high = min(self.values), statistics.median(self.values), max(self.values)
        return f"{mid:.0f} [{low:.0f}-{high:.0f}]"


@contextlib.contextmanager
def single(workdir: Path, workers: int) -> Iterator[Server]:
    server = ServerProcess(
        workdir / f"workers-{workers}",
        "--max-chunk-size", str(64 * MiB), "--log-level", "warning",
        workers=workers,
    ).start()  # fmt: skip
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def cluster(database: str) -> Iterator[Server]:
    # Under /tmp: a PostgreSQL run as `postgres` (when we are root) must be able to enter it.
    base = Path(tempfile.mkdtemp(prefix=f"upslice-bench-{database}-"))
    nodes = Cluster(base, "--nodes", "3", "--database", database,
                    "--serve-arg=--max-chunk-size", f"--serve-arg={64 * MiB}")  # fmt: skip
    try:
        yield nodes.up()
    finally:
        nodes.down()


def small_uploads(url: str, workdir: Path, count: int = SMALL_UPLOADS, size: int = MiB) -> float:
    """`count` concurrent uploads of `size` fresh random bytes, each a create and one chunk,
    with the side-by-side's lean client (httpx's own ceiling is near 130 uploads/s here)."""
    folder = Path(tempfile.mkdtemp(prefix="small-", dir=workdir))
    blobs = []
    for index in range(count):
        body = os.urandom(size)
        path = folder / f"small-{index}.bin"
        path.write_bytes(body)
        blobs.append((path, hashlib.md5(body).hexdigest()))
    address = urlsplit(url)
    assert address.hostname is not None and address.port is not None
    try:
        seconds, _ = asyncio.run(lean.small_uploads(address.hostname, address.port, blobs, "tasks"))
    finally:
        shutil.rmtree(folder)
    return seconds


def scaling_rows(upload: Upload, size: int, workdir: Path, rounds: int) -> list[Series]:
    """Start every setup, then run `rounds` interleaved rounds over them."""
    mib = size / MiB
    tasks = {
        "1 worker": Series("tasks API, 4 streams, 1 worker (defaults)", "MiB/s"),
        "2 workers": Series("tasks API, 4 streams, `--workers 2` (defaults)", "MiB/s"),
        "cluster": Series("tasks API, 4 streams, 3 nodes behind nginx", "MiB/s",
                          "shared data dir + one SQLite file"),
        "postgres": Series("tasks API, 4 streams, 3 nodes, PostgreSQL MetaStore", "MiB/s"),
    }  # fmt: skip
    done = {
        name: Series(f"{series.name}: done after the last chunk", "ms")
        for name, series in tasks.items()
    }
    rss = Series("RSS per worker after the upload, `--workers 2`", "MiB", "largest worker")
    small = {
        "1 worker": Series(f"{SMALL_UPLOADS} concurrent 1 MiB uploads, 1 worker", "uploads/s"),
        "2 workers": Series(
            f"{SMALL_UPLOADS} concurrent 1 MiB uploads, `--workers 2`", "uploads/s"
        ),
    }
    with contextlib.ExitStack() as stack:
        servers: dict[str, Server] = {
            "1 worker": stack.enter_context(single(workdir, 1)),
            "2 workers": stack.enter_context(single(workdir, 2)),
            "cluster": stack.enter_context(cluster("sqlite")),
        }
        try:
            servers["postgres"] = stack.enter_context(cluster("postgres"))
        except (SystemExit, AssertionError) as exc:  # no PostgreSQL here, or no backend yet
            reason = [line for line in str(exc).splitlines() if line.strip()][-1]
            tasks["postgres"].note = f"not run: {reason[:100]}"
        for _ in range(rounds):
            for name, server in servers.items():
                seconds, latency = upload(server)
                tasks[name].values.append(mib / seconds)
                done[name].values.append(max(latency, 0) * 1000)
                if isinstance(server, ServerProcess) and len(server.worker_pids()) > 1:
                    rss.values.append(max(worker_rss(server)) / MiB)
            for name, series in small.items():
                seconds = small_uploads(servers[name].url, workdir)
                series.values.append(SMALL_UPLOADS / seconds)
    done_rows = [d for d in done.values() if d.values]
    return [*tasks.values(), *done_rows, rss, *small.values()]


def worker_rss(server: ServerProcess) -> list[int]:
    return [psutil.Process(pid).memory_info().rss for pid in server.worker_pids()]


def print_series(rows: list[Series], size: int, rounds: int) -> None:
    print(f"\nScaling out: {size // MiB} MiB per upload, {rounds} interleaved rounds, "
          f"{os.cpu_count()} cores; median [min-max]\n")  # fmt: skip
    print("| setup | value | unit | note |")
    print("|---|---:|---|---|")
    for row in rows:
        print(f"| {row.name} | {row.cell()} | {row.unit} | {row.note} |")
