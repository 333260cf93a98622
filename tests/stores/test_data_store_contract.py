from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.stores.conftest import make_upload
from upslice.errors import ChecksumMismatch
from upslice.record import State, Upload
from upslice.stores.base import DataStore


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


async def test_chunks_land_at_their_offset_in_any_order(data_store: DataStore) -> None:
    upload = await created(data_store, make_upload("u1", size=30))
    assert await data_store.write(upload, 20, blocks(b"c" * 10), replace=False) == 10
    assert await data_store.write(upload, 0, blocks(b"a" * 4, b"a" * 6), replace=False) == 10
    assert await data_store.write(upload, 10, blocks(b"b" * 10), replace=False) == 10
    assert await read_all(data_store, upload, 0, 30) == b"a" * 10 + b"b" * 10 + b"c" * 10
    assert await read_all(data_store, upload, 5, 15) == b"a" * 5 + b"b" * 5


async def test_a_refused_replacement_leaves_the_old_bytes(data_store: DataStore) -> None:
    upload = await created(data_store, make_upload("u2", size=20))
    await data_store.write(upload, 0, blocks(b"a" * 10), replace=False)
    with pytest.raises(ChecksumMismatch):
        await data_store.write(upload, 0, failing_after(b"x" * 10), replace=True)
    assert await read_all(data_store, upload, 0, 10) == b"a" * 10
    await data_store.write(upload, 0, blocks(b"z" * 10), replace=True)
    assert await read_all(data_store, upload, 0, 10) == b"z" * 10


async def test_finish_publishes_and_share_survives_deletion(data_store: DataStore) -> None:
    upload = await created(data_store, make_upload("u3", size=10))
    await data_store.write(upload, 0, blocks(b"0123456789"), replace=False)
    upload = upload.evolve(state=State.COMPLETE)
    upload = upload.evolve(store_state=await data_store.finish(upload))
    assert await read_all(data_store, upload, 0, 10) == b"0123456789"
    twin = make_upload("u4", size=10, state=State.COMPLETE)
    twin = twin.evolve(store_state=await data_store.share(upload, twin))
    await data_store.delete(upload)
    assert await read_all(data_store, twin, 0, 10) == b"0123456789"
    await data_store.delete(twin)
    await data_store.delete(twin)  # deleting twice is not an error


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
