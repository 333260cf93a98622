from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.stores.conftest import make_upload
from upslice.record import Segment, State
from upslice.stores.base import MetaStore


async def test_round_trip_keeps_every_field(meta_store: MetaStore) -> None:
    upload = make_upload(
        "a1",
        owner="alice",
        metadata={"album": "holiday", "n": 3},
        extra={"concat": ["x"]},
        store_state={"uploadId": "s3-123"},
        segments=(Segment(0, 10, "crc32:1"),),
        instant=True,
    )
    await meta_store.insert(upload)
    loaded = await meta_store.get("a1")
    assert loaded == upload
    assert await meta_store.get("missing") is None


async def test_parallel_segment_writers_never_lose_each_other(meta_store: MetaStore) -> None:
    await meta_store.insert(make_upload("a2", size=1000))
    await asyncio.gather(
        *(meta_store.put_segment("a2", Segment(i * 10, i * 10 + 10, f"d{i}")) for i in range(50))
    )
    await meta_store.put_segment("a2", Segment(0, 10, "replaced"))
    loaded = await meta_store.get("a2")
    assert loaded is not None and len(loaded.segments) == 50
    assert loaded.segments[0].digest == "replaced"


async def test_transition_is_compare_and_set(meta_store: MetaStore) -> None:
    await meta_store.insert(make_upload("a3"))
    results = await asyncio.gather(
        *(meta_store.transition("a3", [State.RECEIVING], State.VERIFYING) for _ in range(5))
    )
    assert sorted(results) == [False, False, False, False, True]
    loaded = await meta_store.get("a3")
    assert loaded is not None and loaded.state is State.VERIFYING


async def test_find_by_content_respects_state_owner_and_protocol(meta_store: MetaStore) -> None:
    digest = "ab" * 16
    await meta_store.insert(make_upload("b1", hash=digest, owner="alice"))
    await meta_store.insert(make_upload("b2", hash=digest, owner="bob", state=State.COMPLETE))
    found = await meta_store.find_by_content("md5", digest, 100, [State.RECEIVING], owner="alice")
    assert found is not None and found.id == "b1"
    assert (
        await meta_store.find_by_content("md5", digest, 100, [State.RECEIVING], owner="bob") is None
    )
    done = await meta_store.find_by_content("md5", digest, 100, [State.COMPLETE])
    assert done is not None and done.id == "b2"
    assert await meta_store.find_by_content("md5", digest, 101, [State.COMPLETE]) is None
    assert (
        await meta_store.find_by_content("md5", digest, 100, [State.RECEIVING], protocol="tus")
        is None
    )


async def test_update_list_expired_and_delete(meta_store: MetaStore) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    await meta_store.insert(make_upload("c1", owner="alice"))
    await meta_store.insert(make_upload("c2", owner="bob", expires_at=past))
    await meta_store.insert(make_upload("c3", state=State.COMPLETE, expires_at=past))
    await meta_store.update("c1", file_name="renamed.bin", metadata={"k": "v"})
    loaded = await meta_store.get("c1")
    assert (
        loaded is not None and loaded.file_name == "renamed.bin" and loaded.metadata == {"k": "v"}
    )
    assert await meta_store.expired(datetime.now(UTC)) == ["c2"]  # complete never expires
    assert [u.id for u in await meta_store.list_uploads("alice")] == ["c1"]
    assert {u.id for u in await meta_store.list_uploads(None)} == {"c1", "c2", "c3"}
    await meta_store.put_segment("c2", Segment(0, 5, "d"))
    listed = {u.id: u for u in await meta_store.list_uploads(None)}
    assert listed["c2"].segments == (Segment(0, 5, "d"),) and listed["c1"].segments == ()
    await meta_store.delete("c2")
    assert await meta_store.get("c2") is None


async def test_concurrent_inserts_and_writes_do_not_collide(meta_store: MetaStore) -> None:
    await meta_store.insert(make_upload("d0"))
    await asyncio.gather(
        *(
            meta_store.insert(make_upload(f"d{i}", segments=(Segment(0, 10, "x"),)))
            for i in range(1, 30)
        ),
        *(meta_store.put_segment("d0", Segment(i * 10, i * 10 + 10, "y")) for i in range(30)),
        *(meta_store.update("d0", file_name=f"n{i}") for i in range(30)),
    )
    assert len(await meta_store.list_uploads(None, limit=100)) == 30
    loaded = await meta_store.get("d0")
    assert loaded is not None and len(loaded.segments) == 30
