"""Filesystem specifics beyond the DataStore contract."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.stores.conftest import make_upload
from tests.stores.test_data_store_contract import blocks, read_all
from upslice.errors import NotFound
from upslice.hashing import DigestingStream
from upslice.record import State
from upslice.stores import filesystem
from upslice.stores.base import StoredItem, StoredKind
from upslice.stores.filesystem import FilesystemStore
from upslice.stores.page_cache import PageCacheWriter

MiB = 1024 * 1024


@pytest.mark.parametrize("key", ["../meta.db", "partial/../../x", "files/", "elsewhere/id"])
async def test_discard_refuses_keys_outside_its_folders(tmp_path: Path, key: str) -> None:
    store = FilesystemStore(tmp_path / "data")
    await store.open()
    (tmp_path / "x").write_bytes(b"keep")
    item = StoredItem("id", StoredKind.PARTIAL, key, 0, datetime.now(UTC))
    with pytest.raises(ValueError, match="not an item of this store"):
        await store.discard(item)
    assert (tmp_path / "x").exists()


async def test_staging_items_name_their_upload(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "data")
    await store.open()
    (tmp_path / "data" / "staging" / "abc.0123").write_bytes(b"12345")
    await store.open()  # reopening never wipes them: another process may be writing
    [item] = [item async for item in store.stored()]
    assert (item.upload_id, item.kind, item.key, item.size) == (
        "abc",
        StoredKind.STAGING,
        "staging/abc.0123",
        5,
    )


async def test_a_published_upload_not_yet_committed_reads_from_files(tmp_path: Path) -> None:
    """A crash between publishing (partial/ -> files/) and committing `complete` leaves a
    verifying record: recovery reads its bytes from files/, and names it when they are gone."""
    store = FilesystemStore(tmp_path / "data")
    await store.open()
    upload = make_upload("v1", size=10, state=State.VERIFYING)
    upload = upload.evolve(store_state=await store.create(upload))
    await store.write(upload, 0, blocks(b"0123456789"), replace=False)
    await store.finish(upload)
    assert not (tmp_path / "data" / "partial" / "v1").exists()
    assert await read_all(store, upload, 2, 7) == b"23456"
    (tmp_path / "data" / "files" / "v1").unlink()
    with pytest.raises(NotFound) as gone:
        await read_all(store, upload, 0, 10)
    assert gone.value.details == {"uploadId": "v1"}


async def test_an_empty_upload_is_an_empty_file(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "data")
    await store.open()
    upload = make_upload("e0", size=0)
    await store.create(upload)
    await store.finish(upload)
    assert (tmp_path / "data" / "files" / "e0").read_bytes() == b""


async def test_feed_reads_and_hashes_in_steps_and_ends_where_the_file_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(filesystem, "FEED_STEP", 4)
    monkeypatch.setattr(filesystem, "READ_BLOCK", 3)
    store = FilesystemStore(tmp_path / "data")
    await store.open()
    upload = make_upload("h1", size=10)
    await store.create(upload)
    await store.write(upload, 0, blocks(b"0123456789"), replace=False)
    fed: list[bytes] = []
    steps = [n async for n in store.feed(upload, 1, 10, lambda view: fed.append(bytes(view)))]
    assert steps == [4, 4, 1]
    assert fed == [b"123", b"4", b"567", b"8", b"9"]  # 3-byte reads, never past a step
    fed.clear()
    steps = [n async for n in store.feed(upload, 8, 14, lambda view: fed.append(bytes(view)))]
    assert steps == [2] and fed == [b"89"]  # the file ends at 10: so does the feed


async def test_feed_reads_a_published_upload_from_files_and_names_one_gone(
    tmp_path: Path,
) -> None:
    store = FilesystemStore(tmp_path / "data")
    await store.open()
    upload = make_upload("h2", size=6, state=State.VERIFYING)
    await store.create(upload)
    await store.write(upload, 0, blocks(b"abcdef"), replace=False)
    await store.finish(upload)  # partial/ -> files/, the record not committed yet
    fed: list[bytes] = []
    assert [n async for n in store.feed(upload, 0, 6, lambda v: fed.append(bytes(v)))] == [6]
    assert fed == [b"abcdef"]
    (tmp_path / "data" / "files" / "h2").unlink()
    with pytest.raises(NotFound) as gone:
        [n async for n in store.feed(upload, 0, 6, lambda v: fed.append(bytes(v)))]
    assert gone.value.details == {"uploadId": "h2"}


async def test_blocks_are_written_on_a_thread_until_the_body_has_ended(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "data")
    await store.open()
    upload = make_upload("w1", size=5 * MiB // 2)
    await store.create(upload)
    threads: list[int] = []

    def write(fd: int, data: Sequence[bytes], offset: int) -> None:
        threads.append(threading.get_ident())
        filesystem._pwrite(fd, data, offset)

    store.writer = PageCacheWriter(write)
    data = os.urandom(5 * MiB // 2)
    parts = data[:MiB], data[MiB : 2 * MiB], data[2 * MiB :]
    stream = DigestingStream(blocks(*parts), expected_length=len(data))
    assert await store.write(upload, 0, stream.blocks(), replace=False) == len(data)
    loop = threading.get_ident()
    assert [t == loop for t in threads] == [False, False, True]  # the tail came after the end
    assert await read_all(store, upload, 0, len(data)) == data


async def test_a_body_is_written_from_its_pieces_without_a_copy(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "data")
    await store.open()
    upload = make_upload("w2", size=3 * MiB)
    await store.create(upload)
    handed: list[Sequence[bytes]] = []

    def write(fd: int, data: Sequence[bytes], offset: int) -> None:
        handed.append(data)
        filesystem._pwrite(fd, data, offset)

    store.writer = PageCacheWriter(write)
    parts = [os.urandom(256 * 1024) for _ in range(12)]
    stream = DigestingStream(blocks(*parts), expected_length=3 * MiB)
    assert await store.write(upload, 0, stream.blocks(), replace=False) == 3 * MiB
    assert [piece for block in handed for piece in block] == parts
    assert all(a is b for a, b in zip((p for block in handed for p in block), parts, strict=True))
    assert await read_all(store, upload, 0, 3 * MiB) == b"".join(parts)


def test_pieces_are_written_whole_when_the_kernel_takes_less_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pwritev may write fewer bytes than asked (a signal, a full pipe of dirty pages)."""
    real = os.pwritev
    calls = 0

    def stingy(fd: int, buffers: Sequence[memoryview], offset: int) -> int:
        nonlocal calls
        calls += 1
        budget, taken = 1000, []
        for view in buffers:  # at most 1000 bytes, cutting a piece anywhere
            taken.append(view[:budget])
            budget -= len(taken[-1])
            if not budget:
                break
        return real(fd, taken, offset)

    monkeypatch.setattr(os, "pwritev", stingy)
    pieces = [os.urandom(n) for n in (1, 999, 1500, 0, 2500, 7)]
    path = tmp_path / "f"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        filesystem._pwrite(fd, pieces, 10)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"\0" * 10 + b"".join(pieces)
    assert calls == 6
