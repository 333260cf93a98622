"""tus mode against upslice's own /files/ (with checksums and concatenation) and against a
stock @tus/server (neither), including resumption across runs from the local state file."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.client.helpers import KiB, MiB, bytes_received, make_file, md5_of
from tests.conftest import SMALL_CHUNKS
from tests.server_process import ServerProcess
from upslice import AsyncClient
from upslice.client import Progress, RetryPolicy
from upslice.client.tus import plan_parts

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "clients" / "js" / "tus-server.mjs"
BRISK = RetryPolicy(attempts=20, base=0.05, cap=0.3)


class Stop(Exception):
    """Raised from a progress callback: the process "dies" mid-upload."""


def stop_after(fraction: float) -> Callable[[Progress], None]:
    def callback(event: Progress) -> None:
        if event.phase == "uploading" and event.done_bytes >= event.total_bytes * fraction:
            raise Stop

    return callback


class NodeTus:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.proc = subprocess.Popen(
            ["node", str(SCRIPT), "0", str(directory)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()  # the port it bound; EOF if node died
        if not line.startswith("tus server on "):
            self.proc.wait(10)
            error = self.proc.stderr.read().decode() if self.proc.stderr else ""
            raise RuntimeError(f"@tus/server did not start: {line}{error}")
        self.port = int(line.split()[-1])
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def node_tus(tmp_path: Path) -> Iterator[NodeTus]:
    if shutil.which("node") is None or not (ROOT / "node_modules" / "@tus" / "server").exists():
        pytest.skip("needs node and @tus/server (scripts/ensure-system-deps)")
    peer = NodeTus(tmp_path / "tus-store")
    yield peer
    peer.stop()


def test_plan_parts_align_to_chunks() -> None:
    assert plan_parts(10, 4, 4) == [(0, 4), (4, 8), (8, 10)]
    assert plan_parts(100, 10, 3) == [(0, 40), (40, 80), (80, 100)]
    assert plan_parts(0, 10, 4) == [(0, 0)]


async def test_stock_tus_server_round_trip(node_tus: NodeTus, tmp_path: Path) -> None:
    source = make_file(tmp_path / "n.bin", 2 * MiB + 17)
    state = tmp_path / "state.json"
    async with AsyncClient(node_tus.url, tus_state=state, retry=BRISK) as client:
        task = await client.upload(source, protocol="tus", chunk_size=256 * KiB, concurrency=4)
    assert task.done and task.protocol == "tus" and task.hash == md5_of(source)
    assert task.file_url == f"{node_tus.url}/files/{task.id}"
    stored = node_tus.directory / task.id
    assert stored.read_bytes() == source.read_bytes()
    info = json.loads((node_tus.directory / f"{task.id}.json").read_text())
    assert info["metadata"]["filename"] == "n.bin"


async def test_stock_tus_server_resumes_across_runs(node_tus: NodeTus, tmp_path: Path) -> None:
    source = make_file(tmp_path / "r.bin", 2 * MiB)
    state = tmp_path / "state.json"
    async with AsyncClient(node_tus.url, tus_state=state, retry=BRISK) as client:
        with pytest.raises(Stop):
            await client.upload(
                source, protocol="tus", chunk_size=128 * KiB, progress=stop_after(0.4)
            )
    url = next(iter(json.loads(state.read_text()).values()))["url"]
    head = httpx.head(url, headers={"Tus-Resumable": "1.0.0"})
    held = int(head.headers["upload-offset"])
    assert 0 < held < source.stat().st_size

    events: list[Progress] = []
    async with AsyncClient(node_tus.url, tus_state=state, retry=BRISK) as client:
        task = await client.upload(
            source, protocol="tus", chunk_size=128 * KiB, progress=events.append
        )
    assert task.file_url == url  # the same upload, continued
    assert events[-1].sent_bytes == source.stat().st_size - held
    assert (node_tus.directory / task.id).read_bytes() == source.read_bytes()


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_upslice_tus_endpoint(
    server: ServerProcess, tmp_path: Path, concurrency: int
) -> None:
    source = make_file(tmp_path / "u.bin", 2 * MiB + 3)
    state = tmp_path / "state.json"
    async with AsyncClient(server.url, tus_state=state, retry=BRISK) as client:
        task = await client.upload(
            source, protocol="tus", chunk_size=128 * KiB, concurrency=concurrency
        )
        assert task.done and task.protocol == "tus" and task.hash == md5_of(source)
        assert bytes_received(server.url) == source.stat().st_size
        out = await client.download(task.id, tmp_path / "u.out")
    assert out.read_bytes() == source.read_bytes()
    saved = json.loads(state.read_text())
    assert len(saved) == 1 and next(iter(saved.values()))["done"]


async def test_upslice_tus_concatenation_resumes(server: ServerProcess, tmp_path: Path) -> None:
    source = make_file(tmp_path / "p.bin", 2 * MiB)
    size = source.stat().st_size
    state = tmp_path / "state.json"
    async with AsyncClient(server.url, tus_state=state, retry=BRISK) as client:
        with pytest.raises(Stop):
            await client.upload(
                source, protocol="tus", chunk_size=64 * KiB, progress=stop_after(0.5)
            )
    parts = next(iter(json.loads(state.read_text()).values()))["parts"]
    assert len(parts) == 4
    held = sum(
        int(httpx.head(u, headers={"Tus-Resumable": "1.0.0"}).headers["upload-offset"])
        for u in parts
        if u is not None  # under load, a part may not have been created before the stop
    )
    before = bytes_received(server.url)
    async with AsyncClient(server.url, tus_state=state, retry=BRISK) as client:
        task = await client.upload(source, protocol="tus", chunk_size=64 * KiB)
        assert bytes_received(server.url) - before == size - held
        out = await client.download(task.id, tmp_path / "p.out")
    assert out.read_bytes() == source.read_bytes()


async def test_upslice_tus_under_chaos(tmp_path: Path) -> None:
    chaos = "fail=0.15,cut=0.15,delay=0.1,delay-max=0.2,seed=11"
    server = ServerProcess(tmp_path / "data", *SMALL_CHUNKS, "--chaos", chaos).start()
    try:
        source = make_file(tmp_path / "z.bin", 2 * MiB + 9)
        events: list[Progress] = []
        async with AsyncClient(server.url, tus_state=tmp_path / "s.json", retry=BRISK) as client:
            task = await client.upload(
                source, protocol="tus", chunk_size=64 * KiB, progress=events.append
            )
            assert events[-1].retries > 0
            out = await client.download(task.id, tmp_path / "z.out")
        assert out.read_bytes() == source.read_bytes()
    finally:
        server.stop()
