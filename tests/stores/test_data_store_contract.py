from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.stores.conftest import make_upload
from upslice.errors import ChecksumMismatch, NotFound
from upslice.record import State, Upload
from upslice.stores.base import DataStore, StoredKind


async def blocks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def failing_after(part: bytes) -> AsyncIterator[bytes]:
    yield part
    raise ChecksumMismatch("refused at the end of the body")


async def read_all(store: DataStore, upload: Upload, start: int, end: int) -> bytes:
    return b"".join([block async for block in store.read(upload, start, end)])


async def created(store: DataStore, upload: Upload) -> Upload:
    return upload.evolve(store_state=await store.create(upload))


def unit_of(store: DataStore) -> int:
    """A chunk size the store accepts: S3 parts are at least 5 MiB (except the last)."""
    return max(10, store.min_chunk_size)


async def upload_in(store: DataStore, upload_id: str, size: int) -> Upload:
    return await created(store, make_upload(upload_id, size=size, chunk_size=unit_of(store)))


async def readable(store: DataStore, upload: Upload) -> Upload:
    """The upload in a state its bytes can be read in: S3 reads only finished uploads."""
    if store.can_read_partial:
        return upload
    upload = upload.evolve(state=State.COMPLETE)
    return upload.evolve(store_state=await store.finish(upload))


async def test_chunks_land_at_their_offset_in_any_order(data_store: DataStore) -> None:
    unit = unit_of(data_store)
    upload = await upload_in(data_store, "u1", 3 * unit)
    assert await data_store.write(upload, 2 * unit, blocks(b"c" * unit), replace=False) == unit
    half = unit // 2
    assert (
        await data_store.write(upload, 0, blocks(b"a" * half, b"a" * (unit - half)), replace=False)
        == unit
    )
    assert await data_store.write(upload, unit, blocks(b"b" * unit), replace=False) == unit
    upload = await readable(data_store, upload)
    assert (
        await read_all(data_store, upload, 0, 3 * unit) == b"a" * unit + b"b" * unit + b"c" * unit
    )
    assert (
        await read_all(data_store, upload, half, unit + half) == b"a" * (unit - half) + b"b" * half
    )


async def test_a_refused_replacement_leaves_the_old_bytes_and_an_accepted_one_lands(
    data_store: DataStore,
) -> None:
    unit = unit_of(data_store)
    kept = await upload_in(data_store, "u2", 2 * unit)
    replaced = await upload_in(data_store, "u2b", 2 * unit)
    for upload in (kept, replaced):
        await data_store.write(upload, 0, blocks(b"a" * unit), replace=False)
        await data_store.write(upload, unit, blocks(b"b" * unit), replace=False)
        with pytest.raises(ChecksumMismatch):
            await data_store.write(upload, 0, failing_after(b"x" * unit), replace=True)
    await data_store.write(replaced, 0, blocks(b"z" * unit), replace=True)
    await data_store.write(replaced, unit, blocks(b"y" * unit), replace=True)  # not at 0
    kept, replaced = await readable(data_store, kept), await readable(data_store, replaced)
    assert await read_all(data_store, kept, 0, 2 * unit) == b"a" * unit + b"b" * unit
    assert await read_all(data_store, replaced, 0, 2 * unit) == b"z" * unit + b"y" * unit


async def test_finish_publishes_and_share_survives_deletion(data_store: DataStore) -> None:
    upload = await created(data_store, make_upload("u3", size=10))
    await data_store.write(upload, 0, blocks(b"0123456789"), replace=False)
    upload = upload.evolve(state=State.COMPLETE)
    upload = upload.evolve(store_state=await data_store.finish(upload))
    assert await data_store.finish(upload) is not None  # redoable after a crash
    assert await read_all(data_store, upload, 0, 10) == b"0123456789"
    twin = make_upload("u4", size=10, state=State.COMPLETE)
    twin = twin.evolve(store_state=await data_store.share(upload, twin))
    await data_store.delete(upload)
    assert await read_all(data_store, twin, 0, 10) == b"0123456789"
    await data_store.delete(twin)
    await data_store.delete(twin)  # deleting twice is not an error


async def test_sharing_bytes_deleted_meanwhile_is_not_found(data_store: DataStore) -> None:
    """An instant upload can find a finished record whose bytes its owner is deleting: the
    store says NotFound (the engine then uploads the file), not a bare OSError (a 500)."""
    upload = await created(data_store, make_upload("u5", size=10))
    await data_store.write(upload, 0, blocks(b"0123456789"), replace=False)
    upload = upload.evolve(state=State.COMPLETE)
    upload = upload.evolve(store_state=await data_store.finish(upload))
    await data_store.delete(upload)
    twin = make_upload("u6", size=10, state=State.COMPLETE)
    with pytest.raises(NotFound):
        await data_store.share(upload, twin)


async def test_concatenation_joins_finished_parts(data_store: DataStore) -> None:
    if not data_store.can_concatenate:
        pytest.skip(f"{data_store.name} does not offer concatenation")
    parts = []
    for index, content in enumerate((b"abc", b"defg")):
        part = await created(data_store, make_upload(f"p{index}", size=len(content)))
        await data_store.write(part, 0, blocks(content), replace=False)
        part = part.evolve(state=State.COMPLETE)
        await data_store.finish(part)
        parts.append(part)
    final = await created(data_store, make_upload("joined", size=7))
    await data_store.concatenate(final, parts)
    assert await read_all(data_store, final, 0, 7) == b"abcdefg"


async def test_stored_lists_every_item_and_discard_removes_exactly_one(
    data_store: DataStore,
) -> None:
    receiving = await created(data_store, make_upload("r1", size=30))
    await data_store.write(receiving, 0, blocks(b"r" * 10), replace=False)
    received = 10 if data_store.name == "s3" else 30  # the bytes in parts, or the reservation
    finished = await created(data_store, make_upload("f1", size=5))
    await data_store.write(finished, 0, blocks(b"fffff"), replace=False)
    finished = finished.evolve(state=State.COMPLETE)
    await data_store.finish(finished)
    items = {(i.upload_id, i.kind): i async for i in data_store.stored()}
    assert set(items) == {("r1", StoredKind.PARTIAL), ("f1", StoredKind.FILE)}
    assert items["r1", StoredKind.PARTIAL].size == received
    assert items["f1", StoredKind.FILE].size == 5
    age = datetime.now(UTC) - items["f1", StoredKind.FILE].modified
    assert timedelta(0) <= age < timedelta(minutes=5)
    await data_store.discard(items["r1", StoredKind.PARTIAL])
    await data_store.discard(items["r1", StoredKind.PARTIAL])  # twice is not an error
    assert [(i.upload_id, i.kind) async for i in data_store.stored()] == [("f1", StoredKind.FILE)]
    assert await read_all(data_store, finished, 0, 5) == b"fffff"


async def test_feed_hands_exactly_a_range_to_a_hash(data_store: DataStore) -> None:
    unit = unit_of(data_store)
    upload = await upload_in(data_store, "f1", 3 * unit)
    data = bytes(range(256)) * (3 * unit // 256) + bytes(3 * unit % 256)
    for index in range(3):
        part = data[index * unit : (index + 1) * unit]
        await data_store.write(upload, index * unit, blocks(part), replace=False)
    upload = await readable(data_store, upload)
    digest = hashlib.md5()
    steps = [n async for n in data_store.feed(upload, 1, 3 * unit - 1, digest.update)]
    assert sum(steps) == 3 * unit - 2 and all(n > 0 for n in steps)
    assert digest.hexdigest() == hashlib.md5(data[1:-1]).hexdigest()
