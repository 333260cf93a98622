"""Instant upload by proof of possession is a completion: cut short by a crash, it is redone."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.engine.conftest import body, make_engine
from upslice import possession
from upslice.engine import TaskSpec
from upslice.engine.completing import ADOPT
from upslice.record import State

CHUNK = 4096


async def test_an_adoption_cut_after_its_intent_is_finished_by_recovery(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    await engine.open()
    data = random.Random(5).randbytes(3 * CHUNK)
    spec = TaskSpec(hashlib.md5(data).hexdigest(), "f", "x/y", len(data), chunk_size=CHUNK)
    alice, _ = await engine.create_task(spec, owner="alice")
    for index in range(3):
        await engine.write_chunk(
            alice.id, index, body(data[index * CHUNK : (index + 1) * CHUNK]), owner="alice"
        )
    bob, _ = await engine.create_task(spec, owner="bob")
    assert not bob.done  # the hash alone gives bob nothing
    # What _adopt records before it shares any byte; then the process dies.
    assert await engine.meta.transition(bob.id, [State.RECEIVING], State.VERIFYING)
    await engine.meta.update(bob.id, extra={**bob.extra, ADOPT: alice.id})
    await engine.close()

    restarted = make_engine(tmp_path)
    await restarted.open()
    try:
        assert await restarted.recover() == 1
        done = await restarted.get(bob.id, "bob")
        assert done.done and done.instant and done.hash == spec.hash
        assert ADOPT not in done.extra
        read = b"".join([b async for b in restarted.data.read(done, 0, len(data))])
        assert read == data
        assert not (tmp_path / "data" / "partial" / bob.id).exists()
        await restarted.delete(alice.id, "alice")  # bob's copy outlives alice's
        read = b"".join([b async for b in restarted.data.read(done, 0, len(data))])
        assert read == data
    finally:
        await restarted.close()


async def test_a_wrong_proof_never_adopts_and_a_right_one_does(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    await engine.open()
    try:
        data = random.Random(6).randbytes(3 * CHUNK)
        spec = TaskSpec(hashlib.md5(data).hexdigest(), "f", "x/y", len(data), chunk_size=CHUNK)
        alice, _ = await engine.create_task(spec, owner="alice")
        for index in range(3):
            piece = data[index * CHUNK : (index + 1) * CHUNK]
            await engine.write_chunk(alice.id, index, body(piece), owner="alice")
        bob, _ = await engine.create_task(spec, owner="bob")
        wrong = await engine.prove_possession(bob.id, "bob", "0" * 64)
        assert not wrong.done
        challenge = possession.stored(wrong.extra)
        assert challenge is not None

        async def read(start: int, end: int) -> AsyncIterator[bytes]:
            yield data[start:end]

        proof = await possession.proof_of(challenge, read)
        right = await engine.prove_possession(bob.id, "bob", proof)
        assert right.done and right.instant and right.owner == "bob"
        replay = await engine.prove_possession(bob.id, "bob", proof)
        assert replay.done  # idempotent once complete
    finally:
        await engine.close()


@pytest.mark.parametrize("gone", ["record and bytes", "bytes only"])
async def test_an_adoption_whose_source_is_gone_becomes_a_normal_upload_again(
    tmp_path: Path, gone: str
) -> None:
    """The source deleted before the adoption finished; with "bytes only", its deletion is
    under way: the record is still there when the adoption reads it, its bytes are not."""
    engine = make_engine(tmp_path)
    await engine.open()
    try:
        data = random.Random(7).randbytes(3 * CHUNK)
        spec = TaskSpec(hashlib.md5(data).hexdigest(), "f", "x/y", len(data), chunk_size=CHUNK)
        alice, _ = await engine.create_task(spec, owner="alice")
        for index in range(3):
            piece = data[index * CHUNK : (index + 1) * CHUNK]
            await engine.write_chunk(alice.id, index, body(piece), owner="alice")
        bob, _ = await engine.create_task(spec, owner="bob")
        await engine.write_chunk(bob.id, 0, body(data[:CHUNK]), owner="bob")
        # bob's adoption was recorded, then alice's upload was deleted before it finished
        assert await engine.meta.transition(bob.id, [State.RECEIVING], State.VERIFYING)
        await engine.meta.update(bob.id, extra={**bob.extra, ADOPT: alice.id})
        if gone == "bytes only":
            await engine.data.delete(await engine.get(alice.id, "alice"))
        else:
            await engine.delete(alice.id, "alice")
        assert await engine.recover() == 1
        again = await engine.get(bob.id, "bob")
        assert again.state is State.RECEIVING and ADOPT not in again.extra
        assert again.extra == bob.extra and again.current_chunk == 1  # its own chunk stays
        for index in (1, 2):
            piece = data[index * CHUNK : (index + 1) * CHUNK]
            done = await engine.write_chunk(bob.id, index, body(piece), owner="bob")
        assert done.done and not done.instant and done.hash == spec.hash
    finally:
        await engine.close()
