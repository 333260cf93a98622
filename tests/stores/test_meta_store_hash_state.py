"""Hash checkpoints: any process continues the whole-file hash, never from replaced bytes."""

from __future__ import annotations

import asyncio

from tests.stores.conftest import make_upload
from upslice.record import HashState
from upslice.stores.base import MetaStore


async def test_first_checkpoint_is_generation_zero(meta_store: MetaStore) -> None:
    await meta_store.insert(make_upload("k1"))
    assert await meta_store.load_hash_state("k1") is None
    assert await meta_store.save_hash_state("k1", HashState(1, 10, b"s1")) is False
    assert await meta_store.load_hash_state("k1") is None
    assert await meta_store.save_hash_state("k1", HashState(0, 10, b"\x00s1\xff")) is True
    assert await meta_store.load_hash_state("k1") == HashState(0, 10, b"\x00s1\xff")
    assert await meta_store.save_hash_state("k1", HashState(0, 20, b"s2")) is True
    assert await meta_store.load_hash_state("k1") == HashState(0, 20, b"s2")


async def test_reset_bumps_the_generation_and_refuses_stale_saves(meta_store: MetaStore) -> None:
    await meta_store.insert(make_upload("k2"))
    assert await meta_store.save_hash_state("k2", HashState(0, 30, b"old"))
    await meta_store.reset_hash_state("k2")
    assert await meta_store.load_hash_state("k2") == HashState(1, 0, b"")
    # A hasher that started before the reset still carries generation 0: refused.
    assert await meta_store.save_hash_state("k2", HashState(0, 40, b"stale")) is False
    assert await meta_store.load_hash_state("k2") == HashState(1, 0, b"")
    assert await meta_store.save_hash_state("k2", HashState(1, 10, b"fresh")) is True
    assert await meta_store.load_hash_state("k2") == HashState(1, 10, b"fresh")
    await meta_store.reset_hash_state("k2")
    await meta_store.reset_hash_state("k2")
    assert await meta_store.load_hash_state("k2") == HashState(3, 0, b"")


async def test_reset_before_any_checkpoint_still_fences_generation_zero(
    meta_store: MetaStore,
) -> None:
    await meta_store.insert(make_upload("k3"))
    await meta_store.reset_hash_state("k3")
    assert await meta_store.save_hash_state("k3", HashState(0, 10, b"stale")) is False
    assert await meta_store.load_hash_state("k3") == HashState(1, 0, b"")


async def test_concurrent_saves_of_one_generation_race_a_reset(meta_store: MetaStore) -> None:
    await meta_store.insert(make_upload("k4"))
    assert await meta_store.save_hash_state("k4", HashState(0, 0, b""))
    await asyncio.gather(
        meta_store.reset_hash_state("k4"),
        *(meta_store.save_hash_state("k4", HashState(0, i, b"x")) for i in range(1, 10)),
    )
    state = await meta_store.load_hash_state("k4")
    assert state is not None and state.generation == 1
    # Whatever ran first, a checkpoint never survives with generation 0 after the reset ran.
    assert await meta_store.save_hash_state("k4", HashState(0, 99, b"late")) is False


async def test_checkpoint_goes_with_the_upload(meta_store: MetaStore) -> None:
    await meta_store.insert(make_upload("k5"))
    await meta_store.reset_hash_state("k5")
    assert await meta_store.save_hash_state("k5", HashState(1, 50, b"state"))
    await meta_store.delete("k5")
    assert await meta_store.load_hash_state("k5") is None
    await meta_store.insert(make_upload("k5"))  # the same id again starts from nothing
    assert await meta_store.load_hash_state("k5") is None
    assert await meta_store.save_hash_state("k5", HashState(0, 10, b"new")) is True


async def test_checkpoints_are_per_upload(meta_store_pair: tuple[MetaStore, MetaStore]) -> None:
    first, second = meta_store_pair
    await first.insert(make_upload("k6"))
    await first.insert(make_upload("k7"))
    assert await first.save_hash_state("k6", HashState(0, 10, b"six"))
    assert await second.load_hash_state("k6") == HashState(0, 10, b"six")
    assert await second.load_hash_state("k7") is None
    await second.reset_hash_state("k6")
    assert await first.save_hash_state("k6", HashState(0, 20, b"stale")) is False
    assert await first.save_hash_state("k7", HashState(0, 20, b"seven")) is True
