"""Completion without HTTP: what it reports when it cannot finish, and the state it leaves.

Each test here kills mutants that the in-process suite let through (tests/MUTANTS.md).
"""

from __future__ import annotations

import hashlib
import random
import time
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import body, make_engine
from upslice.engine import Engine, TaskSpec
from upslice.engine import completing as completing_module
from upslice.errors import Conflict, HashMismatch, MissingChunks
from upslice.hashing import Crc32
from upslice.hashstate import ResumableHasher
from upslice.hooks import Hooks
from upslice.hooks.events import Decision, HookEvent, HookRefused
from upslice.hooks.runner import HookRunner
from upslice.record import HashState, Segment, State, Upload

CHUNK = 1024


def spec_for(data: bytes) -> TaskSpec:
    return TaskSpec(hashlib.md5(data).hexdigest(), "f", "x/y", len(data), chunk_size=CHUNK)


async def send(engine: Engine, upload: Upload, data: bytes, index: int) -> Upload:
    return await engine.write_chunk(upload.id, index, body(data[index * CHUNK :][:CHUNK]))


async def test_missing_chunks_are_named_by_index_and_by_byte_range(engine: Engine) -> None:
    data = random.Random(1).randbytes(5 * CHUNK + 100)  # 6 chunks, the last one short
    task, _ = await engine.create_task(spec_for(data))
    for index in (0, 2):
        await send(engine, task, data, index)
    with pytest.raises(MissingChunks) as raised:
        await engine.complete(task.id)
    assert raised.value.details == {
        "missingChunks": [1, 3, 4, 5],
        "missingRanges": [[CHUNK, 2 * CHUNK], [3 * CHUNK, len(data)]],
    }
    assert (await engine.get(task.id)).state is State.RECEIVING


async def test_an_upload_of_unknown_length_cannot_complete(engine: Engine) -> None:
    upload = await engine.new_upload(
        protocol="tus", owner=None, file_name="f", file_type="", size=None
    )
    with pytest.raises(Conflict) as raised:
        await engine.complete(upload.id)
    assert raised.value.details == {"uploadId": upload.id}


async def test_the_digest_of_an_undeclared_hash_is_recorded(engine: Engine) -> None:
    """tus uploads declare no hash but are hashed: completion stores the computed one."""
    data = random.Random(2).randbytes(3 * CHUNK)
    upload = await engine.new_upload(
        protocol="tus", owner=None, file_name="f", file_type="", size=len(data)
    )
    done = await engine.append(upload.id, 0, body(data))
    assert done.done and done.hash == hashlib.md5(data).hexdigest()
    assert (await engine.get(upload.id)).hash == done.hash


async def test_bytes_damaged_on_disk_are_named_and_a_resend_repairs_them(
    engine: Engine, tmp_path: Path
) -> None:
    """Chunk 1 arrives early, so the hash reads it back from disk, where it was damaged after
    its acknowledgement: the mismatch names it (its CRC-32 no longer matches), the upload is
    failed and its checkpoints void, and sending chunk 1 again completes it."""
    data = random.Random(3).randbytes(3 * CHUNK)
    task, _ = await engine.create_task(spec_for(data))
    await send(engine, task, data, 1)
    with open(tmp_path / "data" / "partial" / task.id, "r+b") as partial:
        partial.seek(CHUNK + 10)
        partial.write(b"\0" * 10)
    damaged = data[: CHUNK + 10] + b"\0" * 10 + data[CHUNK + 20 :]
    await send(engine, task, data, 0)
    with pytest.raises(HashMismatch) as raised:
        await send(engine, task, data, 2)
    assert raised.value.details == {
        "expected": hashlib.md5(data).hexdigest(),
        "actual": hashlib.md5(damaged).hexdigest(),
        "hashAlgorithm": "md5",
        "resendChunks": [1],
    }
    assert all(type(index) is int for index in raised.value.details["resendChunks"])  # JSON
    assert (await engine.get(task.id)).state is State.FAILED
    state = await engine.meta.load_hash_state(task.id)
    assert state is not None and state.generation > 0 and state.offset == 0
    done = await send(engine, task, data, 1)
    assert done.done and done.hash == hashlib.md5(data).hexdigest()


async def test_a_failure_before_publishing_returns_the_upload_to_receiving(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = random.Random(4).randbytes(2 * CHUNK)
    task, _ = await engine.create_task(spec_for(data))
    await send(engine, task, data, 0)

    async def broken_finish(upload: Upload) -> dict[str, str]:
        raise OSError("the disk went away")

    monkeypatch.setattr(engine.data, "finish", broken_finish)
    with pytest.raises(OSError):
        await send(engine, task, data, 1)
    assert (await engine.get(task.id)).state is State.RECEIVING
    monkeypatch.undo()
    assert (await engine.complete(task.id)).done


async def test_a_failure_after_publishing_leaves_it_verifying_for_recovery(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = random.Random(5).randbytes(2 * CHUNK)
    task, _ = await engine.create_task(spec_for(data))
    await send(engine, task, data, 0)
    real_update = engine.meta.update

    async def update(upload_id: str, **fields: Any) -> bool:
        if fields.get("state") is State.COMPLETE:
            raise OSError("the database went away")
        return await real_update(upload_id, **fields)

    monkeypatch.setattr(engine.meta, "update", update)
    with pytest.raises(OSError):
        await send(engine, task, data, 1)
    assert (await engine.get(task.id)).state is State.VERIFYING  # published: only forward
    monkeypatch.undo()
    assert await engine.recover() == 1
    done = await engine.get(task.id)
    assert done.done and done.hash == hashlib.md5(data).hexdigest()


async def test_recovery_skips_completions_held_by_a_live_process(tmp_path: Path) -> None:
    """Recovery finishes what it can, sends an upload missing chunks back to receiving, and
    leaves alone a completion whose lease a live process holds."""
    engine, other = make_engine(tmp_path), make_engine(tmp_path)
    await engine.open()
    await other.open()
    try:
        ids = []
        for seed in range(3):
            data = random.Random(10 + seed).randbytes(2 * CHUNK)
            task, _ = await engine.create_task(spec_for(data))
            for index in range(2 if seed else 1):  # the first one lacks a chunk
                await engine.meta.put_segment(task.id, await _stored(engine, task, data, index))
            assert await engine.meta.transition(task.id, [State.RECEIVING], State.VERIFYING)
            ids.append(task.id)
        incomplete, *complete = ids
        listed = await engine.meta.ids_in_state(State.VERIFYING)
        held_id = next(i for i in listed if i != incomplete)  # the first complete one listed
        async with other.leases.holding(f"complete:{held_id}") as held:
            assert held is not None
            assert await engine.recover() == 1
        states = {i: (await engine.get(i)).state for i in ids}
        assert states[incomplete] is State.RECEIVING
        assert states[held_id] is State.VERIFYING
        assert [states[i] for i in complete if i != held_id] == [State.COMPLETE]
    finally:
        await engine.close()
        await other.close()


async def _stored(engine: Engine, upload: Upload, data: bytes, index: int) -> Segment:
    """Write chunk `index` to the DataStore only; the caller records it as it pleases."""
    piece = data[index * CHUNK :][:CHUNK]
    await engine.data.write(upload, index * CHUNK, body(piece), replace=False)
    crc = Crc32()
    crc.update(piece)
    return Segment(index * CHUNK, index * CHUNK + len(piece), crc.hexdigest())


async def test_completion_waits_for_another_completer_then_gives_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(completing_module, "WAIT_FOR_OTHER", 0.3)
    engine, other = make_engine(tmp_path), make_engine(tmp_path)
    await engine.open()
    await other.open()
    try:
        data = random.Random(6).randbytes(2 * CHUNK)
        task, _ = await engine.create_task(spec_for(data), owner="alice")
        for index in range(2):
            await engine.meta.put_segment(task.id, await _stored(engine, task, data, index))
        async with other.leases.holding(f"complete:{task.id}") as held:
            assert held is not None
            assert await engine.meta.transition(task.id, [State.RECEIVING], State.VERIFYING)
            began = time.monotonic()
            with pytest.raises(Conflict, match="being completed by another request"):
                await engine.complete(task.id, "alice")
            assert time.monotonic() - began >= 0.3
        # a task that lacks chunks is refused at once, even while another holds the lease
        short, _ = await engine.create_task(spec_for(data[:-1]), owner="alice")
        await engine.meta.put_segment(short.id, await _stored(engine, short, data, 0))
        async with other.leases.holding(f"complete:{short.id}") as held:
            assert held is not None
            with pytest.raises(MissingChunks):
                await engine.complete(short.id, "alice")
    finally:
        await engine.close()
        await other.close()


async def test_a_pre_finish_refusal_fails_the_upload_and_keeps_its_bytes(engine: Engine) -> None:
    seen: list[HookEvent] = []

    class Refusing(Hooks):
        async def pre_finish(self, event: HookEvent) -> Decision | None:
            seen.append(event)
            return Decision(reject=True, status=422, message="not that one")

    engine.hooks = HookRunner(Refusing(), ["pre-finish"], engine.meta)
    data = random.Random(7).randbytes(2 * CHUNK)
    task, _ = await engine.create_task(spec_for(data))
    await send(engine, task, data, 0)
    with pytest.raises(HookRefused):
        await send(engine, task, data, 1)
    assert [(e.name, (e.upload or {}).get("hash")) for e in seen] == [
        ("pre-finish", hashlib.md5(data).hexdigest())
    ]
    assert (await engine.get(task.id)).state is State.FAILED
    engine.hooks = HookRunner(None, (), engine.meta)
    assert (await engine.complete(task.id)).done


async def test_a_checkpoint_that_disagrees_is_never_trusted_over_the_bytes(engine: Engine) -> None:
    """A stored hash state that does not match the declared hash makes completion hash the
    stored bytes again before it calls the file damaged."""
    data = random.Random(8).randbytes(2 * CHUNK)
    task, _ = await engine.create_task(spec_for(data))
    for index in range(2):
        await engine.meta.put_segment(task.id, await _stored(engine, task, data, index))
    lying = ResumableHasher("md5")
    lying.update(b"\0" * len(data))
    assert await engine.meta.save_hash_state(task.id, HashState(0, len(data), lying.serialize()))
    done = await engine.complete(task.id)
    assert done.done and done.hash == hashlib.md5(data).hexdigest()
