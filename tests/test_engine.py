"""Engine behaviour that needs no HTTP: chunk sizing against store limits, and the prefix hash."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from upslice.engine import Engine, Limits, TaskSpec
from upslice.stores.filesystem import FilesystemStore
from upslice.stores.sqlite import SqliteMetaStore

MiB = 1024 * 1024


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    engine = Engine(
        FilesystemStore(tmp_path / "data"),
        SqliteMetaStore(tmp_path / "meta.db"),
        Limits(min_chunk_size=1024),
    )
    await engine.open()
    yield engine
    await engine.close()


async def body(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 4096):
        yield data[start : start + 4096]


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
