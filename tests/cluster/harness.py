"""Drive `scripts/cluster` from tests: start it, read its state and nginx log, kill a busy node.

The nginx access log is the reliable ledger of what clients sent and what was acknowledged: a
node killed with SIGKILL loses its own /health counters, nginx does not.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "cluster"
CHUNK_URI = re.compile(
    r"^(/api/task/(?P<task>[^/?]+)/chunk/(?P<index>\d+)|/files/(?P<tus>[^/?]+))$"
)


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting until {what}")
        time.sleep(0.02)


@dataclass(frozen=True)
class Request:
    """One line of the load balancer's access log."""

    method: str
    uri: str
    status: int
    upstream: str  # the node that answered (the last one nginx tried)
    body: int
    offset: int | None
    started: float = 0.0  # when nginx began reading it (its log line is written at the end)
    reply_cut: bool = False  # its reply's body ended short: the node died while sending it

    @property
    def upload(self) -> str | None:
        match = CHUNK_URI.match(self.uri)
        return None if match is None else match["task"] or match["tus"]

    @property
    def index(self) -> int | None:
        match = CHUNK_URI.match(self.uri)
        return None if match is None or match["index"] is None else int(match["index"])

    @property
    def is_chunk(self) -> bool:
        """A request that carries file bytes: a tasks-API chunk PUT or a tus PATCH."""
        return self.upload is not None and (
            (self.method == "PUT" and self.index is not None)
            or (self.method == "PATCH" and self.index is None)
        )

    @property
    def acknowledged(self) -> bool:
        """The client got a whole 2xx. A node killed between its reply's header and body
        leaves a 2xx in the log (nginx passed the header on) but a cut reply, which the
        client rightly takes as a failure and retries."""
        return 200 <= self.status < 300 and not self.reply_cut

    @classmethod
    def parse(cls, line: str) -> Request:
        row = json.loads(line)
        return cls(
            method=row["method"],
            uri=row["uri"].split("?")[0],
            status=int(row["status"]),
            upstream=row["upstream"].split(",")[-1].strip(),
            body=int(row["contentLength"] or 0),
            offset=int(row["uploadOffset"]) if row["uploadOffset"] else None,
            started=float(row["time"]) - float(row["seconds"]),
            reply_cut=bool(row["replyLength"]) and row["replySent"] < int(row["replyLength"]),
        )


class Cluster:
    """A cluster made by `scripts/cluster up` in `base`; `extra` goes to that command."""

    def __init__(self, base: Path, *extra: str) -> None:
        self.base = base
        self.extra = list(extra)
        self.state: dict[str, Any] = {}

    def script(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, str(SCRIPT), *args, "--dir", str(self.base)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"scripts/cluster {args[0]} failed:\n{done.stderr}"
        return done.stdout

    def up(self) -> Cluster:
        """Start, or restart whatever node a previous test killed, and wait until nginx
        balances over all of them."""
        self.script("up", *self.extra)
        self.state = json.loads(self.script("status", "--json"))
        self.balanced()
        return self

    def down(self) -> None:
        self.script("down")

    @property
    def url(self) -> str:
        return str(self.state["url"])

    @property
    def node_urls(self) -> dict[str, str]:
        """The nodes' own URLs by the upstream address that nginx logs for them."""
        return {
            f"127.0.0.1:{node['port']}": f"http://127.0.0.1:{node['port']}"
            for node in self.state["nodes"]
        }

    def log_mark(self) -> int:
        return Path(self.state["nginx"]["access_log"]).stat().st_size

    def requests(self, since: int = 0, until: int | None = None) -> list[Request]:
        """The requests logged between two marks (to the end of the log by default)."""
        with open(self.state["nginx"]["access_log"], "rb") as log:
            log.seek(since)
            text = log.read() if until is None else log.read(until - since)
            lines = text.decode().splitlines()
        return [Request.parse(line) for line in lines if line.endswith("}")]

    def serving_pids(self) -> list[int]:
        """The processes that accept requests: each node's workers, or the node itself."""
        return [
            pid
            for index, node in enumerate(self.state["nodes"])
            for pid in self.worker_pids(index) or [node["pid"]]
        ]

    def worker_pids(self, node: int = 0) -> list[int]:
        """The live uvicorn workers of one node (none when it runs a single process)."""
        supervisor = psutil.Process(self.state["nodes"][node]["pid"])
        return [child.pid for child in supervisor.children() if is_worker(child)]

    def balanced(self) -> None:
        """Wait until nginx sends requests to every node again: a node it saw fail stays out of
        the rotation for its fail_timeout."""
        wanted = set(self.node_urls)

        def every_node_answered() -> bool:
            start = self.log_mark()
            for _ in range(2 * len(wanted)):
                httpx.get(f"{self.url}/health", timeout=10)
            return {r.upstream for r in self.requests(start)} >= wanted

        wait_for(every_node_answered, "nginx balances over every node")

    def counters(self) -> dict[str, int]:
        return self.counters_of(self.node_urls)

    def counters_of(self, addresses: Iterable[str]) -> dict[str, int]:
        """bytes_received per node address, straight from each node (one worker per node)."""
        received = {}
        for address in addresses:
            health = httpx.get(f"{self.node_urls[address]}/health", timeout=10).json()
            received[address] = int(health["counters"]["bytes_received"])
        return received


def is_worker(process: psutil.Process) -> bool:
    try:  # uvicorn's workers, not multiprocessing's resource tracker; a zombie serves nothing
        return process.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(
            process.cmdline()
        )
    except psutil.Error:
        return False


@dataclass(frozen=True)
class Connection:
    """One established TCP connection of a server, from `ss -tnpi`."""

    pid: int
    local: str
    peer: str
    unread: int  # Recv-Q: bytes the kernel holds that the server has not read yet
    busy: bool  # it received bytes after it last sent any: a request awaits its reply


def connections(ports: Iterable[int]) -> dict[tuple[str, str], Connection]:
    """The servers' connections on `ports` (iproute2's ss reads the kernel's tcp_info)."""
    where = " or ".join(f"sport = :{port}" for port in ports)
    listing = subprocess.run(
        ["ss", "-Htnpi", "state", "established", f"( {where} )"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found: dict[tuple[str, str], Connection] = {}
    head: list[str] = []
    for line in listing.splitlines():
        if not line[:1].isspace():
            head = line.split()
            continue
        pid = re.search(r"pid=(\d+)", " ".join(head))
        info = dict(item.split(":", 1) for item in line.split() if ":" in item)
        if pid is None or len(head) < 4:
            continue
        last_send = int(info.get("lastsnd", 10**9))
        busy = int(info.get("lastrcv", 10**9)) < last_send
        found[head[2], head[3]] = Connection(int(pid[1]), head[2], head[3], int(head[0]), busy)
    return found


def kill_mid_request(
    cluster: Cluster, running: Callable[[], bool], seconds: float = 30, prefer_body: float = 3
) -> Connection:
    """SIGKILL a server process that holds a request it has not answered yet.

    A sequential client's small chunk can finish between a look at the sockets and the kill,
    so every server process is frozen (SIGSTOP) for the look: a connection that has received
    bytes since it last sent any then has a request in the middle, and its process dies with
    it unanswered. The others thaw; between two requests, the look is taken again.

    A victim in the middle of a body (bytes waiting in its socket) is preferred for the first
    `prefer_body` seconds: nginx passes a request that had no body bytes sent yet (a status
    GET) to a live process on its own, and then no client would see the kill. Only that long:
    the uploads may end meanwhile (seen once, under load, when it waited 15 s), and a
    process in any request is still a fair victim.
    """
    ports = [node["port"] for node in cluster.state["nodes"]]
    pids = cluster.serving_pids()
    started = time.monotonic()
    while time.monotonic() < started + seconds:
        assert running(), "the uploads ended before a server process could be killed mid-request"
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            busy = [c for c in connections(ports).values() if c.busy and c.pid in pids]
            mid_body = [c for c in busy if c.unread > 0]
            if not mid_body and time.monotonic() > started + prefer_body:
                mid_body = busy
            if mid_body:
                victim = max(mid_body, key=lambda c: c.unread)
                os.kill(victim.pid, signal.SIGKILL)
                return victim
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):  # the victim may be gone
                    os.kill(pid, signal.SIGCONT)
        time.sleep(0.005)  # let the clients send their next request
    raise AssertionError("no server process was receiving an upload")


@dataclass(frozen=True)
class Kill:
    pid: int
    upstream: str
    mark: int  # the access log's size when the process died


def kill_busy_process(
    cluster: Cluster, start: int, uploads: int, spread: int, running: Callable[[], bool]
) -> Kill:
    """SIGKILL a process that is receiving a chunk, once `uploads` uploads have acknowledged
    chunks, from `spread` different nodes, while the clients are still `running`."""

    def underway() -> bool:
        assert running(), "the uploads ended before the cluster could be put to the test"
        acked = [r for r in cluster.requests(start) if r.is_chunk and r.acknowledged]
        nodes = {r.upstream for r in acked}
        return len({r.upload for r in acked}) >= uploads and len(nodes) >= spread

    wait_for(underway, f"{uploads} upload(s) have chunks acknowledged by {spread} node(s)")
    victim = kill_mid_request(cluster, running)
    return Kill(victim.pid, victim.local, cluster.log_mark())


def chunk_requests(cluster: Cluster, start: int) -> list[Request]:
    """Chunk requests in the order they began: nginx's workers write their log lines when a
    request ends, so one client's sequential PATCHes may be logged out of order."""
    return sorted((r for r in cluster.requests(start) if r.is_chunk), key=lambda r: r.started)


def key(request: Request) -> tuple[str | None, int | None]:
    """What a chunk request delivers: a task's chunk index, or a tus upload's offset."""
    return request.upload, request.index if request.index is not None else request.offset


def logged_bytes(requests: list[Request], victim: str) -> int:
    """Bytes the log accounts for: acknowledged bodies, and unacknowledged ones sent to the
    killed process (which may have stored them). nginx writes a line just after its reply, so
    right after a client finishes, the line of its last request may not be there yet."""
    acked = {key(r) for r in requests if r.acknowledged}
    kept = {key(r): r.body for r in requests if r.upstream == victim and key(r) not in acked}
    return sum(r.body for r in requests if r.acknowledged) + sum(kept.values())


def assert_no_acknowledged_chunk_resent(requests: list[Request], total: int, victim: str) -> None:
    """No acknowledged chunk was sent again, and the acknowledged bodies add up to the bytes
    uploaded, apart from bodies the killed process stored but could not acknowledge.

    Tasks API: no request for a chunk index after its 2xx. tus: no PATCH starts below an offset
    already acknowledged. A body the victim stored just before it died is not sent again (the
    client learns the new offset, or finds the chunk received): that one has no 2xx at all.
    """
    done: set[tuple[str | None, int | None]] = set()
    high: dict[str | None, int] = {}
    for r in requests:  # in the order they began
        if r.index is not None:
            assert key(r) not in done, (
                f"chunk {r.index} of {r.upload} re-sent after its 2xx: "
                f"{[other for other in requests if key(other) == key(r)]}"
            )
        else:
            assert r.offset is not None, f"a PATCH without Upload-Offset: {r}"
            assert r.offset >= high.get(r.upload, 0), f"{r} re-sends acknowledged bytes"
            if r.acknowledged:
                high[r.upload] = r.offset + r.body
        if r.acknowledged:
            done.add(key(r))
    acked = sum(r.body for r in requests if r.acknowledged)
    unacked = {key(r) for r in requests} - done
    at_victim = {key(r): r for r in requests if r.upstream == victim and key(r) in unacked}
    assert set(at_victim) == unacked, (
        f"never acknowledged, yet never sent to the killed process: {unacked - set(at_victim)}"
    )
    kept = sum(r.body for r in at_victim.values())
    assert acked <= total <= acked + kept, (
        f"acknowledged chunk bodies sum to {acked} (+{kept} cut by the kill), uploaded {total}"
    )
