"""The whole-file hash across processes: checkpoints continue it, replaced bytes void it."""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
from pathlib import Path

import pytest

from tests.engine.conftest import CountingStore, body, make_engine
from upslice.engine import Engine, TaskSpec
from upslice.engine import prefix as prefix_module
from upslice.hashing import Crc32
from upslice.hashstate import ResumableHasher
from upslice.record import HashState, Segment, Upload

CHUNK = 64 * 1024


def spec_for(data: bytes, chunk_size: int = CHUNK) -> TaskSpec:
    """A task for `data`, declaring its MD5."""
    return TaskSpec(
        hash=hashlib.md5(data).hexdigest(),
        file_name="f",
        file_type="application/octet-stream",
        file_size=len(data),
        chunk_size=chunk_size,
    )


async def checkpointed(engine: Engine, upload_id: str, offset: int) -> None:
    """Wait until the pump's checkpoint reaches `offset`: a chunk's acknowledgement only
    bounds how far the hash may trail, so the pump may still be on its last block."""
    deadline = time.monotonic() + 30
    while (state := await engine.meta.load_hash_state(upload_id)) is None or (
        state.offset < offset
    ):
        assert time.monotonic() < deadline, f"checkpoint stuck at {state}"
        await asyncio.sleep(0.01)


def reads(engine: Engine) -> int:
    assert isinstance(engine.data, CountingStore)
    return engine.data.bytes_read


async def test_chunks_on_two_processes_make_one_hash_without_rereading(tmp_path: Path) -> None:
    first, second = make_engine(tmp_path), make_engine(tmp_path)
    await first.open()
    await second.open()
    try:
        data = random.Random(1).randbytes(20 * CHUNK + 5)
        task, _ = await first.create_task(spec_for(data))
        for index in range(task.chunk_count):  # alternate, as round robin does
            engine = first if index % 2 == 0 else second
            piece = data[index * CHUNK : (index + 1) * CHUNK]
            done = await engine.write_chunk(task.id, index, body(piece))
        assert done.done and done.hash == hashlib.md5(data).hexdigest()
        assert reads(first) + reads(second) <= len(data)  # each byte hashed once at most
    finally:
        await first.close()
        await second.close()


async def test_a_checkpoint_outlives_the_process_that_took_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prefix_module, "CHECKPOINT_EVERY", 1)
    first = make_engine(tmp_path, lease_seconds=0.5)
    await first.open()
    data = random.Random(2).randbytes(10 * CHUNK)
    task, _ = await first.create_task(spec_for(data))
    for index in range(6):
        await first.write_chunk(task.id, index, body(data[index * CHUNK : (index + 1) * CHUNK]))
    await checkpointed(first, task.id, 6 * CHUNK)
    await first.prefixes.close()  # its pumps die with it; its leases stay until they lapse
    state = await first.meta.load_hash_state(task.id)
    assert state is not None and state.offset == 6 * CHUNK
    second = make_engine(tmp_path, lease_seconds=0.5)
    await second.open()
    try:
        for index in range(6, 10):
            piece = data[index * CHUNK : (index + 1) * CHUNK]
            done = await second.write_chunk(task.id, index, body(piece))
        assert done.done and done.hash == hashlib.md5(data).hexdigest()
        assert reads(second) <= 4 * CHUNK  # continued from the checkpoint, not from zero
    finally:
        await second.close()
        await first.close()


async def test_replacing_hashed_bytes_voids_every_checkpoint(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prefix_module, "CHECKPOINT_EVERY", 1)
    good = random.Random(3).randbytes(4 * CHUNK)
    bad = b"\0" * CHUNK + good[CHUNK:]
    task, _ = await engine.create_task(spec_for(good))
    for index in range(3):
        await engine.write_chunk(task.id, index, body(bad[index * CHUNK : (index + 1) * CHUNK]))
    await checkpointed(engine, task.id, 3 * CHUNK)
    await engine.prefixes.close()
    before = await engine.meta.load_hash_state(task.id)
    assert before is not None and before.offset == 3 * CHUNK
    await engine.write_chunk(task.id, 0, body(good[:CHUNK]))  # a re-send with other bytes
    after = await engine.meta.load_hash_state(task.id)
    assert after is not None and after.generation > before.generation
    assert not await engine.meta.save_hash_state(task.id, before)  # old bytes: refused
    done = await engine.write_chunk(task.id, 3, body(good[3 * CHUNK :]))
    assert done.done and done.hash == hashlib.md5(good).hexdigest()


async def test_acknowledgements_wait_for_a_hash_running_in_another_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytes another process hashes may run ahead of its checkpoint only so far: that bounds
    the wait at completion when chunks land on several workers or nodes."""
    monkeypatch.setattr(prefix_module, "MAX_LAG", 2 * CHUNK)
    monkeypatch.setattr(prefix_module, "CHECKPOINT_EVERY", CHUNK)
    hashing, receiving = make_engine(tmp_path), make_engine(tmp_path)
    await hashing.open()
    await receiving.open()
    try:
        data = random.Random(4).randbytes(40 * CHUNK)
        task, _ = await hashing.create_task(spec_for(data))
        await hashing.write_chunk(task.id, 0, body(data[:CHUNK]))  # its pump holds the lease
        bound = prefix_module.MAX_LAG + prefix_module.CHECKPOINT_EVERY
        for index in range(1, 40):
            piece = data[index * CHUNK : (index + 1) * CHUNK]
            upload = await receiving.write_chunk(task.id, index, body(piece))
            state = await receiving.meta.load_hash_state(task.id)
            hashed = state.offset if state is not None else 0
            assert upload.done or upload.offset - hashed <= bound, (index, hashed)
        assert upload.done and upload.hash == hashlib.md5(data).hexdigest()
    finally:
        await hashing.close()
        await receiving.close()


async def _written_without_a_pump(engine: Engine, data: bytes) -> Upload:
    """An upload whose bytes and records landed but that no pump hashed (its process died)."""
    task, _ = await engine.create_task(spec_for(data))
    await engine.data.write(task, 0, body(data), replace=False)
    for index in range(task.chunk_count):
        piece = data[index * CHUNK : (index + 1) * CHUNK]
        crc = Crc32()
        crc.update(piece)
        segment = Segment(index * CHUNK, index * CHUNK + len(piece), crc.hexdigest())
        assert await engine.meta.put_segment(task.id, segment)
    upload = await engine.meta.get(task.id)
    assert upload is not None
    return upload


@pytest.mark.parametrize("checkpoint", [0, 3 * CHUNK])
async def test_the_last_stretch_is_read_back_from_the_checkpoint_and_saved(
    engine: Engine, checkpoint: int
) -> None:
    data = random.Random(5).randbytes(5 * CHUNK + 7)
    upload = await _written_without_a_pump(engine, data)
    if checkpoint:
        hasher = ResumableHasher("md5")
        hasher.update(data[:checkpoint])
        assert await engine.meta.save_hash_state(
            upload.id, HashState(0, checkpoint, hasher.serialize())
        )
    digest = await engine.prefixes.digest(upload, time.monotonic() + 10)
    assert digest == hashlib.md5(data).hexdigest()
    assert reads(engine) == len(data) - checkpoint  # continued, never started over
    state = await engine.meta.load_hash_state(upload.id)  # a retry need not hash it again
    assert state is not None and (state.generation, state.offset) == (0, len(data))
    assert ResumableHasher.deserialize(state.state).hexdigest() == digest
    before = reads(engine)
    assert await engine.prefixes.digest(upload, time.monotonic() + 10) == digest
    assert reads(engine) == before


async def test_a_checkpoint_after_a_reset_is_saved_under_its_generation(engine: Engine) -> None:
    data = random.Random(6).randbytes(2 * CHUNK)
    upload = await _written_without_a_pump(engine, data)
    await engine.meta.reset_hash_state(upload.id)  # as a re-send with other bytes does
    digest = await engine.prefixes.digest(upload, time.monotonic() + 10)
    assert digest == hashlib.md5(data).hexdigest()
    state = await engine.meta.load_hash_state(upload.id)
    assert state is not None and (state.generation, state.offset) == (1, len(data))


async def test_completion_takes_the_digest_from_a_pump_still_hashing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last chunk is acknowledged while this process's pump still trails the prefix:
    completion waits for that pump and takes its digest, reading nothing back."""
    monkeypatch.setattr(prefix_module, "MAX_LAG", 1 << 40)  # acknowledgements never wait
    gate = threading.Event()  # the pump hashes nothing until completion asks for the digest

    class GatedHasher(ResumableHasher):
        def update(self, data: bytes | memoryview) -> None:
            assert gate.wait(timeout=30)
            super().update(data)

    monkeypatch.setattr(prefix_module, "ResumableHasher", GatedHasher)
    real_digest = engine.prefixes.digest
    running: list[bool] = []

    async def digest(upload: Upload, deadline: float) -> str | None:
        pump = engine.prefixes._pumps.get(upload.id)
        running.append(pump is not None and not pump.task.done())
        gate.set()
        return await real_digest(upload, deadline)

    monkeypatch.setattr(engine.prefixes, "digest", digest)
    data = random.Random(7).randbytes(4 * CHUNK)
    task, _ = await engine.create_task(spec_for(data))
    for index in range(4):
        done = await engine.write_chunk(task.id, index, body(data[index * CHUNK :][:CHUNK]))
    assert running == [True]
    assert done.done and done.hash == hashlib.md5(data).hexdigest()
    assert reads(engine) == 0  # every byte was hashed from memory, once


async def test_blocks_handed_over_during_a_trip_are_hashed_in_that_trip(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hashing thread takes the blocks that arrive while it hashes, instead of ending
    its trip and idling until the busy loop starts the next one."""
    monkeypatch.setattr(prefix_module, "MAX_LAG", 1 << 40)  # acknowledgements never wait
    hashing = threading.Event()  # the thread has begun its first trip
    gate = threading.Event()  # and waits there until every chunk is in

    class GatedHasher(ResumableHasher):
        def update(self, data: bytes | memoryview) -> None:
            hashing.set()
            assert gate.wait(timeout=30)
            super().update(data)

    monkeypatch.setattr(prefix_module, "ResumableHasher", GatedHasher)
    trips: list[int] = []
    real_trip = prefix_module.Pump._hash_handed

    def counted(pump: prefix_module.Pump, blocks: list[bytes], loop: object) -> None:
        trips.append(len(blocks))
        real_trip(pump, blocks, loop)  # type: ignore[arg-type]

    monkeypatch.setattr(prefix_module.Pump, "_hash_handed", counted)
    real_digest = engine.prefixes.digest

    async def digest(upload: Upload, deadline: float) -> str | None:
        gate.set()
        return await real_digest(upload, deadline)

    monkeypatch.setattr(engine.prefixes, "digest", digest)
    data = random.Random(8).randbytes(4 * CHUNK)
    task, _ = await engine.create_task(spec_for(data))
    await engine.write_chunk(task.id, 0, body(data[:CHUNK]))
    assert await asyncio.to_thread(hashing.wait, 30)
    for index in range(1, 4):
        done = await engine.write_chunk(task.id, index, body(data[index * CHUNK :][:CHUNK]))
    assert done.done and done.hash == hashlib.md5(data).hexdigest()
    assert len(trips) == 1  # it began with chunk 0 and took the three others itself
    assert reads(engine) == 0
