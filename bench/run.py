"""upslice benchmark: upload throughput, completion latency and server memory, beside peers.

Starts real servers on loopback and prints Markdown tables. First upslice beside its peers
(@tus/server, tuspyserver, a null tus server) with one lean asyncio client, in interleaved rounds
(bench/sidebyside.py). Then rows that need their own client, each moving the same file:
  raw socket    a plain loopback receiver writing to a file: this machine's ceiling
  tasks API     PUT /api/task/{id}/chunk/{i}, 1 and 4 parallel chunk streams
  tus           one PATCH of the whole file, and 8 MiB PATCHes, against upslice's /files/
                and against a stock @tus/server (Node, FileStore) as the peer
  CLI           `upslice upload`, hashing included: beside the upload, and --hash-first
  browser       the JS client in Debian's Chromium (bench/browser.mjs): hash-wasm MD5 speed,
                the default flow end to end (hashing while uploading), and `hashFirst`'s
                upload alone and end to end, 128 MiB
  scaling       1 worker vs `--workers 2`, 3 nodes behind nginx (SQLite, PostgreSQL), and 50
                concurrent small uploads, in interleaved rounds (bench/scaling.py)
  S3            the tasks API and tus on `--store s3://` against moto: bytes read back from S3
                per uploaded byte and server RSS (bench/s3rows.py; moto is no speed reference)
Run: `make bench` (or `python bench/run.py --size-mib 1024`; `--rows scaling` for those alone).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.server_process import ServerProcess

from machine import prime_memory
from rows import MiB, Row, median_row, peak_rss, print_client_targets, print_table
from scaling import Server, print_series, scaling_rows
from sidebyside import settle, side_by_side


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


def raw_socket_row(path: Path, size: int, workdir: Path) -> Row:
    """The ceiling: a receiver that does nothing but recv_into and write to a file."""
    listener = socket.create_server(("127.0.0.1", 0))  # bound and listening before the child
    port = listener.getsockname()[1]
    receiver = subprocess.Popen(
        [sys.executable, "-c", RAW_RECEIVER, str(listener.fileno()), str(workdir / "raw.out"),
         str(size)],
        pass_fds=[listener.fileno()],
    )  # fmt: skip
    listener.close()  # the child holds its own copy; connections queue until it accepts
    settle()
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
fd, out, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
srv = socket.socket(fileno=fd)
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
    server: Server, path: Path, digest: str, size: int, streams: int, chunk_size: int
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
    local = threading.local()
    opened: list[BinaryIO] = []

    def send(index: int) -> dict[str, object]:
        if not hasattr(local, "http"):  # one connection and one file handle per stream
            local.http = httpx.Client(base_url=server.url, timeout=120)
            local.file = open(path, "rb")
            opened.append(local.file)
        length = min(chunk, size - index * chunk)
        began = time.perf_counter()
        reply = local.http.put(
            f"/api/task/{task['id']}/chunk/{index}",
            content=_file_part(local.file, index * chunk, length),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(length)},
        )
        durations[index] = time.perf_counter() - began
        reply.raise_for_status()
        result: dict[str, object] = reply.json()
        return result

    settle()
    start = time.perf_counter()
    with ThreadPoolExecutor(streams) as pool:
        replies = list(pool.map(send, range(count)))
    seconds = time.perf_counter() - start
    for handle in opened:
        handle.close()
    done_replies = [i for i, r in enumerate(replies) if r["done"]]
    finishing = max(done_replies, key=lambda i: durations[i])  # the one that waited for it
    others = [d for i, d in durations.items() if i != finishing]
    latency = durations[finishing] - statistics.median(others)
    with httpx.Client(base_url=server.url) as http:
        assert http.get(f"/api/task/{task['id']}").json()["hash"] == digest
        http.delete(f"/api/task/{task['id']}")
    label = f"upslice tasks API, {streams} stream{'s' if streams > 1 else ''}"
    note = f"{chunk // MiB} MiB chunks; done {max(latency, 0) * 1000:.0f} ms after the last chunk"
    return Row(label, seconds, size, note=note), latency


def run_server_rows(path: Path, digest: str, size: int, workdir: Path, rounds: int) -> list[Row]:
    """The single-server rows in `rounds` rounds, each on a fresh server (the browser's rows
    run their own 3 rounds once): every row is a median with its [min-max]."""
    series: dict[str, list[Row]] = {}
    for number in range(rounds):
        # the ceiling too: the first gigabyte a fresh VM moves lands in memory the guest has
        # never touched, and alone it can run at a fifth of the next round's rate
        found = [raw_socket_row(path, size, workdir)]
        server = ServerProcess(
            workdir / f"upslice-data-{number}", "--max-chunk-size", str(64 * MiB),
            "--log-level", "warning",
        ).start()  # fmt: skip
        try:
            assert server.proc is not None
            for streams in (1, 4):
                row, _ = tasks_row(server, path, digest, size, streams, 8 * MiB)
                row.peak_rss = peak_rss(server.proc.pid)
                found.append(row)
            once = number == 0  # the browser's rows take their own 3 rounds
            for extra in (e for e in EXTRA_ROWS if once or e is not browser_rows):
                found.extend(extra(server, path, digest, size, workdir))
        finally:
            server.stop()
            shutil.rmtree(workdir / f"upslice-data-{number}", ignore_errors=True)
        for row in found:
            series.setdefault(row.name, []).append(row)
        print(f"single-server round {number + 1}/{rounds} done", file=sys.stderr)
    rows = [median_row(runs) for runs in series.values()]
    rows.insert(3, memory_check_row(path, size, workdir))  # after the 4-stream row
    return rows


def tus_upload(files_url: str, path: Path, size: int, patch_size: int | None) -> float:
    """Create a tus upload and send the file in PATCHes; returns seconds."""
    tus = {"Tus-Resumable": "1.0.0"}
    with httpx.Client(timeout=300) as http:
        settle()
        start = time.perf_counter()
        created = http.post(files_url, headers={**tus, "Upload-Length": str(size)})
        created.raise_for_status()
        location = httpx.URL(files_url).join(created.headers["location"])
        offset = 0
        with open(path, "rb") as handle:
            while offset < size:
                length = min(patch_size or size, size - offset)
                reply = http.patch(
                    location,
                    content=_file_part(handle, offset, length),
                    headers={
                        **tus,
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                        "Content-Length": str(length),
                    },
                )
                reply.raise_for_status()
                offset = int(reply.headers["upload-offset"])
        seconds = time.perf_counter() - start
        http.delete(location, headers=tus)
    return seconds


def _file_part(handle: BinaryIO, offset: int, length: int) -> Iterator[bytes]:
    handle.seek(offset)
    while length > 0:
        block = handle.read(min(length, MiB))
        length -= len(block)
        yield block


def tus_rows(files_url: str, label: str, pid: int, path: Path, size: int) -> list[Row]:
    rows = []
    for patch_size, note in ((None, "one PATCH"), (8 * MiB, "8 MiB PATCHes")):
        seconds = tus_upload(files_url, path, size, patch_size)
        rows.append(Row(f"{label} tus, {note}", seconds, size, peak_rss(pid)))
    return rows


def upslice_tus_rows(
    server: ServerProcess, path: Path, digest: str, size: int, workdir: Path
) -> list[Row]:
    assert server.proc is not None
    return tus_rows(f"{server.url}/files/", "upslice", server.proc.pid, path, size)


def cli_rows(server: ServerProcess, path: Path, digest: str, size: int, workdir: Path) -> list[Row]:
    """`upslice upload` as a user runs it: by default hashing beside the upload, and with
    `--hash-first` (hash the whole file, then upload). Each run starts with an empty client
    state and its task is deleted after it, so that neither resumes nor goes instant."""
    rows = []
    for flags, label, note in (
        ((), "upslice CLI upload, 4 streams", "hashing beside the upload (default)"),
        (("--hash-first",), "upslice CLI upload --hash-first", "hash the file, then upload"),
    ):
        state = tempfile.mkdtemp(prefix="cli-state-", dir=workdir)
        command = [sys.executable, "-m", "upslice", "upload", str(path), "--server", server.url,
                   "--chunk-size", str(8 * MiB), "--json", "--quiet", *flags]  # fmt: skip
        settle()
        start = time.perf_counter()
        done = subprocess.run(
            command, check=True, capture_output=True, text=True,
            env={**os.environ, "UPSLICE_STATE_DIR": state},
        )  # fmt: skip
        seconds = time.perf_counter() - start
        task = json.loads(done.stdout)["tasks"][0]
        assert task["done"] and task["hash"] == digest and not task["instant"], task
        httpx.delete(f"{server.url}/api/task/{task['id']}").raise_for_status()
        rows.append(Row(label, seconds, size, note=note))
    return rows


def browser_rows(
    server: ServerProcess, path: Path, digest: str, size: int, workdir: Path
) -> list[Row]:
    root = Path(__file__).resolve().parent.parent
    mib = min(128, size // MiB)  # 3 rounds of each flow: keep them short
    settle()
    result = subprocess.run(
        ["node", str(root / "bench/browser.mjs"), server.url, "--hash-mib", str(mib),
         "--upload-mib", str(mib), "--chunk-size", str(8 * MiB)],
        cwd=root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    moved = mib * MiB

    def seconds(mb_per_s: float) -> float:  # the script reports MB = 10^6 bytes
        return moved / (mb_per_s * 1e6)

    ratio = figures["e2eMBps"] / figures["hashMBps"]
    return [
        Row("browser: hash-wasm MD5 in a Web Worker", seconds(figures["hashMBps"]), moved,
            note="Chromium, client side only"),
        Row("browser client, end to end (choose file -> done)", seconds(figures["e2eMBps"]),
            moved, note=f"Chromium; hashes while uploading; CRC-32C per chunk; {ratio:.2f}x MD5"),
        Row("browser client, hashFirst, 4 streams", seconds(figures["uploadMBps"]), moved,
            note="Chromium; CRC-32C per chunk; hashing excluded"),
        Row("browser client, hashFirst, end to end", seconds(figures["totalMBps"]), moved,
            note="Chromium; hash the file, then upload it"),
    ]  # fmt: skip


EXTRA_ROWS: list[Callable[[ServerProcess, Path, str, int, Path], list[Row]]] = [
    upslice_tus_rows,
    cli_rows,
    browser_rows,
]


def tus_server_peer_rows(path: Path, size: int, workdir: Path) -> list[Row]:
    """@tus/server 2.x with its FileStore: the Node.js reference implementation."""
    root = Path(__file__).resolve().parent.parent
    store = workdir / "tus-node"
    store.mkdir()
    peer = subprocess.Popen(  # port 0: it binds a free one and prints it once listening
        ["node", str(root / "tests/clients/js/tus-server.mjs"), "0", str(store)],
        cwd=root,
        stdout=subprocess.PIPE,
    )
    try:
        assert peer.stdout is not None
        url = f"http://127.0.0.1:{int(peer.stdout.readline().split()[-1])}/files"
        return tus_rows(url, "@tus/server (Node)", peer.pid, path, size)
    finally:
        peer.terminate()
        peer.wait(10)


def memory_check_row(path: Path, size: int, workdir: Path) -> Row:
    """A fresh server fed a quarter of the file: peak RSS must not depend on the file size."""
    small = workdir / "quarter.bin"
    with open(path, "rb") as src, open(small, "wb") as dst:
        dst.write(src.read(size // 4))
    digest = hashlib.md5(small.read_bytes()).hexdigest()
    server = ServerProcess(
        workdir / "memory-check", "--max-chunk-size", str(64 * MiB), "--log-level", "warning"
    ).start()
    try:
        assert server.proc is not None
        row, _ = tasks_row(server, small, digest, size // 4, 4, 8 * MiB)
        row.name += f", {size // 4 // MiB} MiB file"
        row.note = "fresh server: compare its peak RSS with the full-size rows"
        row.peak_rss = peak_rss(server.proc.pid)
        return row
    finally:
        server.stop()
        small.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024, help="file size (default 1 GiB)")
    parser.add_argument(
        "--rows",
        choices=["all", "peers", "single", "scaling", "s3"],
        default="all",
        help="peers side by side (lean client), single-server rows (CLI, browser, httpx), "
        "the scaling-out rows, S3 on moto, or all",
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument(
        "--no-prime",
        action="store_true",
        help="skip touching 3/4 of the free memory once before timing (see bench/machine.py)",
    )
    args = parser.parse_args()
    size = args.size_mib * MiB
    if not args.no_prime:
        prime_memory()
    with tempfile.TemporaryDirectory(prefix="upslice-bench-") as tmp:
        workdir = Path(tmp)
        path = workdir / "payload.bin"
        if args.rows in ("all", "peers"):
            side_by_side(size, workdir / "peers", args.rounds)
        digest = make_file(path, size)
        if args.rows in ("all", "single"):
            rows = run_server_rows(path, digest, size, workdir, args.rounds)
            rows.extend(tus_server_peer_rows(path, size, workdir))
            print_table(rows, size)
            print_client_targets(rows)
        if args.rows in ("all", "s3"):
            from s3rows import s3_rows

            print_table(s3_rows(path, digest, size, workdir), size)
        if args.rows in ("all", "scaling"):

            def upload(server: Server) -> tuple[float, float]:
                row, latency = tasks_row(server, path, digest, size, 4, 8 * MiB)
                return row.seconds, latency

            print_series(scaling_rows(upload, size, workdir, args.rounds), size, args.rounds)


if __name__ == "__main__":
    main()
