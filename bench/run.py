"""upslice benchmark: upload throughput, completion latency and server memory, beside peers.

Starts real servers on loopback and prints a Markdown table. Every row moves the same file:
  raw socket    a plain loopback receiver writing to a file: this machine's ceiling
  tasks API     PUT /api/task/{id}/chunk/{i}, 1 and 4 parallel chunk streams
Run: `make bench` (or `python bench/run.py --size-mib 1024`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.server_process import ServerProcess, free_port

MiB = 1024 * 1024


@dataclass
class Row:
    name: str
    seconds: float
    size: int
    peak_rss: int | None = None
    note: str = ""

    @property
    def mbps(self) -> float:
        return self.size / MiB / self.seconds


def make_file(path: Path, size: int) -> str:
    digest = hashlib.md5()
    with open(path, "wb") as handle:
        left = size
        while left:
            block = os.urandom(min(left, 64 * MiB))
            digest.update(block)
            handle.write(block)
            left -= len(block)
    return digest.hexdigest()


def peak_rss(pid: int) -> int:
    """VmHWM: the process's resident-set high-water mark, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def raw_socket_row(path: Path, size: int, workdir: Path) -> Row:
    """The ceiling: a receiver that does nothing but recv_into and write to a file."""
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-c", RAW_RECEIVER, str(port), str(workdir / "raw.out"), str(size)]
    )
    time.sleep(0.5)
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock, open(path, "rb") as handle:
        sock.sendfile(handle)
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1)  # the receiver answers once everything is written
    seconds = time.perf_counter() - start
    receiver.wait(30)
    return Row("raw loopback socket → file", seconds, size, note="machine ceiling")


RAW_RECEIVER = """
import socket, sys
port, out, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
srv = socket.create_server(("127.0.0.1", port))
conn, _ = srv.accept()
buf = bytearray(1 << 20)
view = memoryview(buf)
with open(out, "wb", buffering=0) as f:
    got = 0
    while got < size:
        n = conn.recv_into(buf)
        if not n:
            break
        f.write(view[:n])
        got += n
conn.sendall(b"k")
"""


def tasks_row(
    server: ServerProcess, path: Path, digest: str, size: int, streams: int, chunk_size: int
) -> tuple[Row, float]:
    """Upload through the tasks API; returns the row and the completion latency."""
    with httpx.Client(base_url=server.url, timeout=120) as http:
        task = http.post(
            "/api/task",
            json={
                "hash": digest,
                "fileName": path.name,
                "fileSize": size,
                "chunkSize": chunk_size,
            },
        ).json()
    count, chunk = task["chunkCount"], task["chunkSize"]
    durations: dict[int, float] = {}
    fd = os.open(path, os.O_RDONLY)
    local = threading.local()

    def send(index: int) -> dict[str, object]:
        if not hasattr(local, "http"):
            local.http = httpx.Client(base_url=server.url, timeout=120)
        body = os.pread(fd, chunk, index * chunk)
        began = time.perf_counter()
        reply = local.http.put(
            f"/api/task/{task['id']}/chunk/{index}",
            content=body,
            headers={"Content-Type": "application/octet-stream"},
        )
        durations[index] = time.perf_counter() - began
        reply.raise_for_status()
        result: dict[str, object] = reply.json()
        return result

    start = time.perf_counter()
    with ThreadPoolExecutor(streams) as pool:
        replies = list(pool.map(send, range(count)))
    seconds = time.perf_counter() - start
    os.close(fd)
    finishing = next(i for i, r in enumerate(replies) if r["done"])
    others = [d for i, d in durations.items() if i != finishing]
    latency = durations[finishing] - statistics.median(others)
    with httpx.Client(base_url=server.url) as http:
        assert http.get(f"/api/task/{task['id']}").json()["hash"] == digest
        http.delete(f"/api/task/{task['id']}")
    label = f"upslice tasks API, {streams} stream{'s' if streams > 1 else ''}"
    note = f"{chunk // MiB} MiB chunks; done {latency * 1000:.0f} ms after the last chunk"
    return Row(label, seconds, size, note=note), latency


def run_server_rows(path: Path, digest: str, size: int, workdir: Path, rows: list[Row]) -> None:
    server = ServerProcess(
        workdir / "upslice-data", "--max-chunk-size", str(64 * MiB), "--log-level", "warning"
    ).start()
    try:
        assert server.proc is not None
        for streams in (1, 4):
            row, _ = tasks_row(server, path, digest, size, streams, 8 * MiB)
            row.peak_rss = peak_rss(server.proc.pid)
            rows.append(row)
        for extra in EXTRA_ROWS:
            rows.extend(extra(server, path, digest, size, workdir))
    finally:
        server.stop()


EXTRA_ROWS: list[Callable[[ServerProcess, Path, str, int, Path], list[Row]]] = []


def print_table(rows: list[Row], size: int) -> None:
    print(f"\nUpload of {size // MiB} MiB over loopback, {os.cpu_count()} cores\n")
    print("| path | MB/s | seconds | server peak RSS | note |")
    print("|---|---:|---:|---:|---|")
    for row in rows:
        rss = f"{row.peak_rss / MiB:.0f} MiB" if row.peak_rss else "-"
        print(f"| {row.name} | {row.mbps:.0f} | {row.seconds:.2f} | {rss} | {row.note} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024, help="file size (default 1 GiB)")
    args = parser.parse_args()
    size = args.size_mib * MiB
    with tempfile.TemporaryDirectory(prefix="upslice-bench-") as tmp:
        workdir = Path(tmp)
        path = workdir / "payload.bin"
        digest = make_file(path, size)
        rows = [raw_socket_row(path, size, workdir)]
        run_server_rows(path, digest, size, workdir, rows)
        print_table(rows, size)


if __name__ == "__main__":
    main()
