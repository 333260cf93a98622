"""A small file in one body is hashed in that request: no pump, no read-back, one checkpoint."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator

import pytest

from tests.engine.conftest import CountingStore, body
from tests.engine.test_prefix import spec_for
from upslice.engine import Engine
from upslice.engine import inline_hash as inline_module
from upslice.engine import prefix as prefix_module
from upslice.engine.inline_hash import inline_hash
from upslice.errors import ChecksumMismatch, ClientGone, HashMismatch
from upslice.hashing import Checksum
from upslice.hashstate import ResumableHasher
from upslice.record import Upload

SIZE = 300 * 1024


@pytest.fixture
def pumps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the uploads a pump was started for."""
    started: list[str] = []

    class CountedPump(prefix_module.Pump):
        def __init__(self, hashes: prefix_module.PrefixHashes, upload: Upload) -> None:
            started.append(upload.id)
            super().__init__(hashes, upload)

    monkeypatch.setattr(prefix_module, "Pump", CountedPump)
    return started


def reads(engine: Engine) -> int:
    assert isinstance(engine.data, CountingStore)
    return engine.data.bytes_read


async def checkpoint_of(engine: Engine, upload_id: str) -> tuple[int, str]:
    state = await engine.meta.load_hash_state(upload_id)
    assert state is not None
    return state.offset, ResumableHasher.deserialize(state.state).hexdigest()


async def test_a_one_chunk_task_is_hashed_in_its_request(engine: Engine, pumps: list[str]) -> None:
    data = random.Random(1).randbytes(SIZE)
    task, _ = await engine.create_task(spec_for(data, SIZE))
    done = await engine.write_chunk(task.id, 0, body(data))
    assert done.done and done.hash == hashlib.md5(data).hexdigest()
    assert await checkpoint_of(engine, task.id) == (SIZE, done.hash)
    assert pumps == [] and reads(engine) == 0


async def test_a_wrong_whole_file_is_refused_after_reading_it_back(
    engine: Engine, pumps: list[str]
) -> None:
    """The inline checkpoint is never trusted over the bytes: a mismatch is re-read."""
    data = random.Random(2).randbytes(SIZE)
    task, _ = await engine.create_task(spec_for(b"other bytes" + data[11:], SIZE))
    with pytest.raises(HashMismatch):
        await engine.write_chunk(task.id, 0, body(data))
    assert reads(engine) >= SIZE and pumps == []


async def test_a_tus_body_cut_short_checkpoints_what_arrived_and_the_pump_goes_on(
    engine: Engine, pumps: list[str]
) -> None:
    data = random.Random(3).randbytes(SIZE)
    upload = await engine.new_upload(
        protocol="tus", owner=None, file_name="f", file_type="", size=SIZE
    )

    async def cut() -> AsyncIterator[bytes]:
        yield data[: SIZE // 3]
        raise ClientGone("the client went away")

    first = await engine.append(upload.id, 0, cut(), content_length=SIZE)
    assert first.offset == SIZE // 3
    assert await checkpoint_of(engine, upload.id) == (
        SIZE // 3,
        hashlib.md5(data[: SIZE // 3]).hexdigest(),
    )
    done = await engine.append(upload.id, SIZE // 3, body(data[SIZE // 3 :]))
    assert done.done and done.hash == hashlib.md5(data).hexdigest()
    assert pumps == [upload.id] and reads(engine) == 0  # the pump went on from the checkpoint


async def test_a_body_failing_its_checksum_leaves_no_checkpoint(engine: Engine) -> None:
    data = random.Random(4).randbytes(SIZE)
    task, _ = await engine.create_task(spec_for(data, SIZE))
    wrong = Checksum("md5", hashlib.md5(b"not this").digest())
    with pytest.raises(ChecksumMismatch):
        await engine.write_chunk(task.id, 0, body(data), checksum=wrong)
    assert await engine.meta.load_hash_state(task.id) is None
    done = await engine.write_chunk(
        task.id, 0, body(data), checksum=Checksum("md5", hashlib.md5(data).digest())
    )
    assert done.done and done.hash == hashlib.md5(data).hexdigest()


async def test_a_checkpoint_is_refused_once_bytes_were_replaced_meanwhile(engine: Engine) -> None:
    data = random.Random(5).randbytes(SIZE)
    task, _ = await engine.create_task(spec_for(data, SIZE))
    inline = await inline_hash(engine.meta, task, 0, SIZE)
    assert inline is not None
    await inline.feed([data])
    await engine.meta.reset_hash_state(task.id)  # what replacing hashed bytes does
    assert not await inline.save(engine.meta, SIZE)
    state = await engine.meta.load_hash_state(task.id)
    assert state is not None and state.offset == 0


async def test_only_a_small_whole_file_from_byte_zero_is_hashed_inline(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, pumps: list[str]
) -> None:
    monkeypatch.setattr(inline_module, "INLINE_MAX", SIZE)
    data = random.Random(6).randbytes(SIZE)
    task, _ = await engine.create_task(spec_for(data, SIZE))
    assert await inline_hash(engine.meta, task, 0, SIZE - 1) is None  # not the whole file
    assert await inline_hash(engine.meta, task, 1, SIZE) is None  # not from byte 0
    done = await engine.write_chunk(task.id, 0, body(data))
    assert done.done and pumps == []
    unhashed = await engine.new_upload(
        protocol="tus", owner=None, file_name="f", file_type="", size=SIZE, hash_algorithm="none"
    )
    assert await inline_hash(engine.meta, unhashed, 0, SIZE) is None  # nobody asked for a hash


async def test_a_file_too_big_to_hash_inline_goes_through_the_pump(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, pumps: list[str]
) -> None:
    monkeypatch.setattr(inline_module, "INLINE_MAX", SIZE - 1)
    data = random.Random(7).randbytes(SIZE)
    task, _ = await engine.create_task(spec_for(data, SIZE))
    assert await inline_hash(engine.meta, task, 0, SIZE) is None
    done = await engine.write_chunk(task.id, 0, body(data))
    assert done.done and done.hash == hashlib.md5(data).hexdigest()
    assert pumps == [task.id] and reads(engine) == 0
