"""Engine behaviour that needs no HTTP: chunk sizing against store limits, and the prefix hash."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator

import pytest

from tests.engine.conftest import body
from upslice.engine import Engine, TaskSpec

MiB = 1024 * 1024


def test_chunk_size_respects_part_based_stores(engine: Engine) -> None:
    engine.data.min_chunk_size = 5 * MiB  # as the S3 store declares
    engine.data.max_chunks = 10_000
    assert engine.chunk_size_for(100 * MiB, 1024) == 5 * MiB
    huge = 100 * 1024 * MiB
    size = engine.chunk_size_for(huge, None)
    assert -(-huge // size) <= 10_000
    assert engine.chunk_size_for(10 * MiB, 8 * MiB) == 8 * MiB


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_prefix_hash_is_right_in_any_arrival_order(engine: Engine, seed: int) -> None:
    data = random.Random(seed).randbytes(37 * 1024 + 11)
    spec = TaskSpec(
        hash=hashlib.md5(data).hexdigest(),
        file_name="f",
        file_type="x/y",
        file_size=len(data),
        chunk_size=1024,
    )
    task, created = await engine.create_task(spec)
    assert created
    order = list(range(task.chunk_count))
    random.Random(seed).shuffle(order)
    for index in order:
        upload = await engine.write_chunk(
            task.id, index, body(data[index * 1024 : (index + 1) * 1024])
        )
    assert upload.done and upload.hash == spec.hash
    read = b"".join([b async for b in engine.data.read(upload, 0, len(data))])
    assert read == data


async def test_a_stale_view_never_writes_over_an_acknowledged_chunk(engine: Engine) -> None:
    """A request that looked at the task before another request stored the same chunk must
    still treat its body as a replacement: a cut body then leaves the stored chunk intact."""
    from upslice.errors import ClientGone

    chunk = 2 * MiB  # bigger than a write block, so a cut body has reached the store
    data = random.Random(9).randbytes(2 * chunk + 100)
    spec = TaskSpec(
        hash=hashlib.md5(data).hexdigest(),
        file_name="f",
        file_type="x/y",
        file_size=len(data),
        chunk_size=chunk,
    )
    stale, _ = await engine.create_task(spec)
    await engine.write_chunk(stale.id, 0, body(data[:chunk]))

    async def cut() -> AsyncIterator[bytes]:
        yield b"\xff" * (chunk - 1000)
        raise ClientGone("cut")

    with pytest.raises(ClientGone):
        await engine._receive(stale, 0, chunk, cut(), None)
    await engine.write_chunk(stale.id, 1, body(data[chunk : 2 * chunk]))
    done = await engine.write_chunk(stale.id, 2, body(data[2 * chunk :]))
    assert done.done
    assert b"".join([b async for b in engine.data.read(done, 0, len(data))]) == data


def test_upload_ids_are_random_url_safe_and_never_look_like_options() -> None:
    from upslice.engine import new_upload_id

    ids = {new_upload_id() for _ in range(2000)}
    assert len(ids) == 2000
    for upload_id in ids:
        assert len(upload_id) == 26 and upload_id.isalnum() and upload_id.islower()
