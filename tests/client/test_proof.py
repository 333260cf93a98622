"""The Python clients prove possession: bob gets alice's file instantly only from his own bytes.

With `hash_first`, before a byte is sent; by default, once the hash is known (see
test_overlapped.py)."""

from __future__ import annotations

from pathlib import Path

from tests.client.helpers import KiB, bytes_received, make_file
from tests.host_app import HostApp
from upslice import AsyncClient, Client
from upslice.client import Progress

CHUNK = 64 * KiB


async def test_bob_holding_the_file_gets_an_instant_upload(host: HostApp, tmp_path: Path) -> None:
    source = make_file(tmp_path / "report.pdf", 20 * CHUNK + 7, seed=5)
    with Client(host.url, headers={"x-user": "alice"}) as alice:
        original = alice.upload(source, chunk_size=CHUNK)
    received = bytes_received(host.url)
    events: list[Progress] = []
    async with AsyncClient(host.url, headers={"x-user": "bob"}) as bob:
        task = await bob.upload(source, chunk_size=CHUNK, progress=events.append, hash_first=True)
        assert task.done and task.instant and task.id != original.id
        assert "proving" in {e.phase for e in events} and events[-1].sent_bytes == 0
        assert bytes_received(host.url) == received  # not one byte of the file went up
        copy = await bob.download(task.id, tmp_path / "copy.pdf")
        assert copy.read_bytes() == source.read_bytes()
        assert [t.id for t in await bob.list()] == [task.id]


def test_a_file_the_server_lacks_is_uploaded_after_a_failed_proof(
    host: HostApp, tmp_path: Path
) -> None:
    source = make_file(tmp_path / "new.bin", 6 * CHUNK + 1, seed=6)
    events: list[Progress] = []
    with Client(host.url, headers={"x-user": "bob"}) as bob:
        task = bob.upload(source, chunk_size=CHUNK, progress=events.append, hash_first=True)
    assert task.done and not task.instant
    assert "proving" in {e.phase for e in events}
    assert events[-1].sent_bytes == source.stat().st_size


def test_a_one_chunk_file_is_sent_rather_than_proved(host: HostApp, tmp_path: Path) -> None:
    source = make_file(tmp_path / "small.bin", CHUNK, seed=7)
    with Client(host.url, headers={"x-user": "alice"}) as alice:
        alice.upload(source, chunk_size=CHUNK)
    events: list[Progress] = []
    with Client(host.url, headers={"x-user": "bob"}) as bob:
        task = bob.upload(source, chunk_size=CHUNK, progress=events.append)
    assert task.done and not task.instant  # sending one chunk costs about what proving costs
    assert "proving" not in {e.phase for e in events}
    assert events[-1].sent_bytes == CHUNK
