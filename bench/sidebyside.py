"""upslice beside its peers, one lean client for all: @tus/server, tuspyserver and a null tus
server (a baseline), in interleaved rounds with a fresh server for every cell.

Every cell prints its median and [min-max] over the rounds; the ratio columns compare upslice
with each peer and with this machine's single-core MD5 rate, measured in the same run.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

import lean

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent
# Below the ephemeral range (32768-60999 here): a TIME_WAIT socket of an earlier round, or any
# outgoing connection, can never hold them.
PORTS = {"upslice": 21080, "@tus/server": 21081, "tuspyserver": 21082, "null": 21083}
PEERS = ["upslice", "@tus/server", "tuspyserver", "null"]
SMALL_COUNT, SMALL_SIZE = 50, MiB


@dataclass
class Running:
    name: str
    port: int
    proc: subprocess.Popen[bytes]

    def peak_rss_mib(self) -> float:
        """VmHWM of the server and its children (uvicorn workers), in MiB."""
        import psutil

        peak = 0
        for proc in [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(True)]:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        return peak / MiB


def command_for(name: str, port: int, directory: Path) -> list[str]:
    if name == "upslice":
        return [
            sys.executable, "-m", "upslice", "serve", "--port", str(port),
            "--data-dir", str(directory), "--workers", "1", "--log-level", "warning",
            "--max-chunk-size", str(64 * MiB), "--no-demo",
        ]  # fmt: skip
    if name == "@tus/server":
        return ["node", str(ROOT / "tests/clients/js/tus-server.mjs"), str(port), str(directory)]
    if name == "tuspyserver":
        return [sys.executable, str(ROOT / "bench/tuspy_app.py"), str(port), str(directory)]
    return [sys.executable, str(ROOT / "bench/null_tus.py"), str(port), str(directory)]


@contextlib.contextmanager
def running(name: str, workdir: Path) -> Iterator[Running]:
    """A fresh server with an empty directory, ready when it answers on its port."""
    port = PORTS[name]
    directory = workdir / f"{name.strip('@').replace('/', '-')}-{time.monotonic_ns()}"
    directory.mkdir()
    proc = subprocess.Popen(
        command_for(name, port, directory), cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited at start ({proc.returncode})")
            try:
                httpx.options(f"http://127.0.0.1:{port}/files/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start on port {port}") from None
                time.sleep(0.05)
        yield Running(name, port, proc)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        proc.wait(30)
        subprocess.run(["rm", "-rf", str(directory)], check=False)


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.values)

    def text(self, digits: int = 0) -> str:
        if not self.values:
            return ""
        low, high = min(self.values), max(self.values)
        return f"{self.median():.{digits}f} [{low:.{digits}f}-{high:.{digits}f}]"


@dataclass
class Payload:
    path: Path
    md5: str
    size: int
    small: list[tuple[Path, str]]


def make_payload(workdir: Path, size: int) -> Payload:
    path = workdir / "payload.bin"
    digest = hashlib.md5()
    with open(path, "wb") as handle:
        for _ in range(size // (64 * MiB) or 1):
            block = os.urandom(min(size, 64 * MiB))
            digest.update(block)
            handle.write(block)
    small = []
    for number in range(SMALL_COUNT):
        blob = workdir / f"small-{number}.bin"
        data = os.urandom(SMALL_SIZE)
        blob.write_bytes(data)
        small.append((blob, hashlib.md5(data).hexdigest()))
    return Payload(path, digest.hexdigest(), path.stat().st_size, small)


def md5_rate(size: int = 512 * MiB) -> float:
    """hashlib MD5 over in-memory data, one core: the limit a verified upload can approach."""
    data = os.urandom(64 * MiB)
    started = time.perf_counter()
    digest = hashlib.md5()
    for _ in range(size // len(data)):
        digest.update(data)
    return size / MiB / (time.perf_counter() - started)


def settle() -> None:
    """Write back what earlier cells left dirty before a timed upload starts: otherwise the
    kernel's writeback of the previous gigabyte (and its throttling of writers past the dirty
    threshold) lands on whichever server runs next, and the rows measure the disk's backlog."""
    os.sync()


Table = dict[str, dict[str, Cell]]  # row -> server -> cell


def record(table: Table, row: str, server: str, value: float) -> None:
    table.setdefault(row, {}).setdefault(server, Cell()).values.append(value)


Measure = Callable[[Running, Payload, Table], Awaitable[None]]


async def tus_one_patch(server: Running, payload: Payload, table: Table) -> None:
    settle()
    seconds, latency = await lean.tus_upload("127.0.0.1", server.port, payload.path, None)
    record(table, "tus, one PATCH, MiB/s", server.name, payload.size / MiB / seconds)
    record(table, "reply after the last body byte, one PATCH, ms", server.name, latency * 1000)
    record(table, "peak RSS, one PATCH, MiB", server.name, server.peak_rss_mib())


async def tus_patches(server: Running, payload: Payload, table: Table) -> None:
    """A server of its own: the gigabyte of the one-PATCH case must not still be on disk."""
    settle()
    seconds, _ = await lean.tus_upload("127.0.0.1", server.port, payload.path, 8 * MiB)
    record(table, "tus, 8 MiB PATCHes, MiB/s", server.name, payload.size / MiB / seconds)


async def small_tus(server: Running, payload: Payload, table: Table) -> None:
    await small_uploads(server, payload, table, "tus")


async def small_tasks(server: Running, payload: Payload, table: Table) -> None:
    """upslice only, on a fresh server of its own like every other cell: a burst on a server
    that has just served another runs faster (threads started, code paths warm)."""
    await small_uploads(server, payload, table, "tasks")


async def small_uploads(server: Running, payload: Payload, table: Table, protocol: str) -> None:
    settle()
    seconds, latencies = await lean.small_uploads("127.0.0.1", server.port, payload.small, protocol)
    label = f"{SMALL_COUNT} concurrent 1 MiB uploads ({protocol}), uploads/s"
    record(table, label, server.name, len(payload.small) / seconds)
    p99 = sorted(latencies)[max(0, round(len(latencies) * 0.99) - 1)]
    record(table, f"p99 body request, small uploads ({protocol}), ms", server.name, p99 * 1000)


async def verified_cases(server: Running, payload: Payload, table: Table) -> None:
    """upslice only: the uploads whose every byte is hashed and checked."""
    mib = payload.size / MiB
    for streams in (1, 4):
        settle()
        seconds, extra = await lean.tasks_upload(
            "127.0.0.1", server.port, payload.path, payload.md5, streams, 8 * MiB
        )
        record(
            table,
            f"tasks API (MD5 verified), {streams} stream(s), MiB/s",
            server.name,
            mib / seconds,
        )
        if streams == 4:
            record(
                table,
                "extra wait of the completing chunk, 4 streams, ms",
                server.name,
                extra * 1000,
            )
            record(table, "peak RSS, tasks 4 streams, MiB", server.name, server.peak_rss_mib())
    checksum = "md5 " + base64.b64encode(bytes.fromhex(payload.md5)).decode()
    metadata = "checksum " + base64.b64encode(checksum.encode()).decode()
    settle()
    seconds, _ = await lean.tus_upload(
        "127.0.0.1", server.port, payload.path, None, metadata=metadata
    )
    record(
        table,
        "tus + checksum metadata (MD5 verified), one PATCH, MiB/s",
        server.name,
        mib / seconds,
    )


def run_rounds(payload: Payload, workdir: Path, rounds: int) -> tuple[Table, Cell]:
    table: Table = {}
    md5 = Cell()
    for number in range(rounds):
        md5.values.append(md5_rate())
        order = PEERS[number % len(PEERS) :] + PEERS[: number % len(PEERS)]
        for measure in (tus_one_patch, tus_patches, small_tus):
            for name in order:
                with running(name, workdir) as server:
                    asyncio.run(measure(server, payload, table))
        for upslice_only in (small_tasks, verified_cases):  # the tasks API is upslice's own
            with running("upslice", workdir) as server:
                asyncio.run(upslice_only(server, payload, table))
        print(f"round {number + 1}/{rounds} done", file=sys.stderr)
    return table, md5


def ratio(table: Table, row: str, peer: str, higher_is_better: bool = True) -> str:
    cells = table.get(row, {})
    if "upslice" not in cells or peer not in cells:
        return ""
    mine, theirs = cells["upslice"].median(), cells[peer].median()
    value = mine / theirs if higher_is_better else theirs / mine
    return f"{value:.2f}x"


def print_table(table: Table, md5: Cell, size: int, rounds: int) -> None:
    print(f"\n{size // MiB} MiB file, {rounds} interleaved rounds, fresh server per cell; "
          f"median [min-max]; {os.cpu_count()} cores\n")  # fmt: skip
    print(f"Single-core MD5 rate (hashlib), same run: {md5.text()} MiB/s\n")
    headers = [*PEERS, "upslice/@tus/server", "upslice/tuspyserver", "upslice/MD5"]
    print("| case | " + " | ".join(headers) + " |")
    print("|---|" + "---|" * len(headers))
    for row, cells in table.items():
        better = "MiB/s" in row or "uploads/s" in row
        cols = [cells[p].text(0) if p in cells else "" for p in PEERS]
        cols.append(ratio(table, row, "@tus/server", better))
        cols.append(ratio(table, row, "tuspyserver", better))
        verified = "verified" in row and "upslice" in cells
        cols.append(f"{cells['upslice'].median() / md5.median():.2f}" if verified else "")
        print(f"| {row} | " + " | ".join(cols) + " |")
    print("\nRatios for times (ms) and memory are peer/upslice, so above 1 means upslice is ahead.")


def median(table: Table, row: str, server: str = "upslice") -> float | None:
    cell = table.get(row, {}).get(server)
    return cell.median() if cell is not None and cell.values else None


def targets(table: Table, md5: Cell) -> list[tuple[str, float | None, float, bool]]:
    """Issue 11's targets for this table: (what, measured, goal, higher is better)."""
    found: list[tuple[str, float | None, float, bool]] = []

    def ratio(row: str, peer: str, goal: float, higher: bool = True) -> None:
        mine, theirs = median(table, row), median(table, row, peer)
        value = None if mine is None or not theirs else mine / theirs
        found.append((f"{row}: upslice/{peer}", value, goal, higher))

    for row in ("tus, one PATCH, MiB/s", "tus, 8 MiB PATCHes, MiB/s"):
        ratio(row, "@tus/server", 1.2)
        ratio(row, "tuspyserver", 1.0)
    for row in table:
        if "verified" in row:
            mine = median(table, row)
            value = None if mine is None else mine / md5.median()
            found.append((f"{row}: upslice/MD5", value, 0.9, True))
    for protocol in ("tasks", "tus"):  # the peer speaks tus only: both compare with its tus
        for row, goal, higher in (
            (f"{SMALL_COUNT} concurrent 1 MiB uploads ({protocol}), uploads/s", 1.5, True),
            (f"p99 body request, small uploads ({protocol}), ms", 1.0, False),
        ):
            mine = median(table, row)
            theirs = median(table, row.replace("(tasks)", "(tus)"), "@tus/server")
            value = None if mine is None or not theirs else mine / theirs
            found.append((f"{row}: upslice/@tus/server", value, goal, higher))
    for row, goal in (
        ("reply after the last body byte, one PATCH, ms", 15.0),
        ("extra wait of the completing chunk, 4 streams, ms", 50.0),
        ("peak RSS, tasks 4 streams, MiB", 100.0),
    ):
        found.append((row, median(table, row), goal, False))
    return found


def print_targets(table: Table, md5: Cell) -> None:
    print("\nTargets (issue 11), from the medians above:\n")
    print("| target | measured | goal | met |")
    print("|---|---:|---:|---|")
    for what, value, goal, higher in targets(table, md5):
        met = value is not None and (value >= goal if higher else value <= goal)
        shown = "n/a" if value is None else f"{value:.2f}"
        sign = ">=" if higher else "<="
        print(f"| {what} | {shown} | {sign} {goal:g} | {'yes' if met else 'no'} |")


def side_by_side(size: int, workdir: Path, rounds: int) -> None:
    workdir.mkdir(exist_ok=True)
    payload = make_payload(workdir, size)
    table, md5 = run_rounds(payload, workdir, rounds)
    print_table(table, md5, size, rounds)
    print_targets(table, md5)


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-prime", action="store_true", help="see bench/machine.py")
    args = parser.parse_args()
    if not args.no_prime:
        from machine import prime_memory

        prime_memory()
    with tempfile.TemporaryDirectory(prefix="upslice-sbs-") as tmp:
        side_by_side(args.size_mib * MiB, Path(tmp), args.rounds)
