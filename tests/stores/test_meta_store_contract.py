"""Upload records, segments and owner scoping: what every MetaStore backend must do."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

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


async def test_deferred_size_and_no_expiry_round_trip(meta_store: MetaStore) -> None:
    upload = make_upload("a0", size=None, hash=None, expires_at=None, protocol="tus")
    await meta_store.insert(upload)
    assert await meta_store.get("a0") == upload


async def test_parallel_segment_writers_never_lose_each_other(meta_store: MetaStore) -> None:
    await meta_store.insert(make_upload("a2", size=1000))
    stored = await asyncio.gather(
        *(meta_store.put_segment("a2", Segment(i * 10, i * 10 + 10, f"d{i}")) for i in range(50))
    )
    assert all(stored)
    assert await meta_store.put_segment("a2", Segment(0, 10, "replaced")) is True
    loaded = await meta_store.get("a2")
    assert loaded is not None and len(loaded.segments) == 50
    assert loaded.segments[0].digest == "replaced"
    assert [s.start for s in loaded.segments] == list(range(0, 500, 10))


async def test_put_segment_on_a_deleted_upload_stores_nothing(meta_store: MetaStore) -> None:
    await meta_store.insert(make_upload("a4"))
    await meta_store.delete("a4")
    assert await meta_store.put_segment("a4", Segment(0, 10, "late")) is False
    assert await meta_store.put_segment("never-existed", Segment(0, 10, "x")) is False
    await meta_store.insert(make_upload("a4"))  # the same id again must start empty
    loaded = await meta_store.get("a4")
    assert loaded is not None and loaded.segments == ()


async def test_an_insert_is_all_or_nothing(meta_store: MetaStore) -> None:
    """The record, its segments and its hook events are one transaction: a failing part
    leaves no record behind (two segments at one start break the segments' key)."""
    twice = (Segment(0, 10, "crc32c:1"), Segment(0, 10, "crc32c:2"))
    with pytest.raises((sqlite3.IntegrityError, asyncpg.UniqueViolationError)):
        await meta_store.insert(make_upload("a5", segments=twice))
    assert await meta_store.get("a5") is None
    await meta_store.insert(make_upload("a5"))  # and the id is still free
    assert await meta_store.get("a5") is not None


async def test_transition_is_compare_and_set(meta_store: MetaStore) -> None:
    await meta_store.insert(make_upload("a3"))
    results = await asyncio.gather(
        *(meta_store.transition("a3", [State.RECEIVING], State.VERIFYING) for _ in range(5))
    )
    assert sorted(results) == [False, False, False, False, True]
    loaded = await meta_store.get("a3")
    assert loaded is not None and loaded.state is State.VERIFYING
    assert await meta_store.transition("missing", [State.RECEIVING], State.FAILED) is False


async def test_find_by_content_respects_state_owner_and_protocol(meta_store: MetaStore) -> None:
    digest = "ab" * 16
    await meta_store.insert(make_upload("b1", hash=digest, owner="alice"))
    await meta_store.insert(make_upload("b2", hash=digest, owner="bob", state=State.COMPLETE))
    found = await meta_store.find_by_content("md5", digest, 100, [State.RECEIVING], owner="alice")
    assert found is not None and found.id == "b1"
    assert (
        await meta_store.find_by_content("md5", digest, 100, [State.RECEIVING], owner="bob") is None
    )
    done = await meta_store.find_by_content("md5", digest, 100, [State.COMPLETE], owner="bob")
    assert done is not None and done.id == "b2"
    assert await meta_store.find_by_content("md5", digest, 101, [State.COMPLETE], "bob") is None
    assert await meta_store.find_by_content("sha256", digest, 100, [State.COMPLETE], "bob") is None
    assert (
        await meta_store.find_by_content(
            "md5", digest, 100, [State.RECEIVING], "alice", protocol="tus"
        )
        is None
    )


async def test_find_by_content_owner_none_is_the_anonymous_owner(meta_store: MetaStore) -> None:
    digest = "cd" * 16
    old = datetime.now(UTC) - timedelta(minutes=5)
    await meta_store.insert(make_upload("e1", hash=digest, owner="alice", state=State.COMPLETE))
    # Anonymous callers never see someone else's upload by its hash alone.
    assert await meta_store.find_by_content("md5", digest, 100, [State.COMPLETE]) is None
    await meta_store.insert(
        make_upload("e2", hash=digest, state=State.COMPLETE, created_at=old, updated_at=old)
    )
    anonymous = await meta_store.find_by_content("md5", digest, 100, [State.COMPLETE], None)
    assert anonymous is not None and anonymous.id == "e2"
    newest = await meta_store.find_by_content("md5", digest, 100, [State.COMPLETE], any_owner=True)
    assert newest is not None and newest.id == "e1"  # the newest, whoever owns it


async def test_find_by_content_returns_the_whole_record_from_any_listed_state(
    meta_store: MetaStore,
) -> None:
    """A resume continues from the record found: its segments say which bytes are in."""
    digest = "ef" * 16
    segments = (Segment(0, 10, "crc32c:1"), Segment(20, 30, "crc32c:2"))
    upload = make_upload("k1", hash=digest, protocol="tus", state=State.FAILED, segments=segments)
    await meta_store.insert(upload)
    await meta_store.insert(make_upload("k2", hash=digest, state=State.FAILED))  # tasks protocol
    either = [State.RECEIVING, State.FAILED]
    found = await meta_store.find_by_content("md5", digest, 100, either, protocol="tus")
    assert found == upload
    neither = [State.RECEIVING, State.VERIFYING]
    assert await meta_store.find_by_content("md5", digest, 100, neither, protocol="tus") is None


async def test_list_uploads_returns_a_hundred_by_default(meta_store: MetaStore) -> None:
    for i in range(101):
        await meta_store.insert(make_upload(f"m{i}"))
    assert len(await meta_store.list_uploads(None)) == 100


async def test_list_uploads_is_scoped_to_one_owner(meta_store: MetaStore) -> None:
    base = datetime.now(UTC) - timedelta(hours=1)
    for i, owner in enumerate(["alice", None, "bob", None, "alice"]):
        at = base + timedelta(minutes=i)
        await meta_store.insert(make_upload(f"f{i}", owner=owner, created_at=at, updated_at=at))
    assert [u.id for u in await meta_store.list_uploads("alice")] == ["f4", "f0"]
    assert [u.id for u in await meta_store.list_uploads(None)] == ["f3", "f1"]
    assert [u.id for u in await meta_store.list_uploads("carol")] == []
    everyone = await meta_store.list_uploads(None, any_owner=True)
    assert [u.id for u in everyone] == ["f4", "f3", "f2", "f1", "f0"]
    page = await meta_store.list_uploads(
        None, any_owner=True, limit=2, before=everyone[1].created_at
    )
    assert [u.id for u in page] == ["f2", "f1"]


async def test_update_list_expired_and_delete(meta_store: MetaStore) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    await meta_store.insert(make_upload("c1", owner="alice"))
    await meta_store.insert(make_upload("c2", owner="bob", expires_at=past))
    await meta_store.insert(make_upload("c3", state=State.COMPLETE, expires_at=past))
    assert await meta_store.update("c1", file_name="renamed.bin", metadata={"k": "v"}) is True
    loaded = await meta_store.get("c1")
    assert (
        loaded is not None and loaded.file_name == "renamed.bin" and loaded.metadata == {"k": "v"}
    )
    assert await meta_store.expired(datetime.now(UTC)) == ["c2"]  # complete never expires
    assert [u.id for u in await meta_store.list_uploads("alice")] == ["c1"]
    assert [u.id for u in await meta_store.list_uploads(None)] == ["c3"]
    everyone = await meta_store.list_uploads(None, any_owner=True)
    assert {u.id for u in everyone} == {"c1", "c2", "c3"}
    await meta_store.put_segment("c2", Segment(0, 5, "d"))
    listed = {u.id: u for u in await meta_store.list_uploads(None, any_owner=True)}
    assert listed["c2"].segments == (Segment(0, 5, "d"),) and listed["c1"].segments == ()
    await meta_store.delete("c2")
    assert await meta_store.get("c2") is None
    await meta_store.delete("c2")  # deleting twice is not an error


async def test_transition_from_any_of_several_states(meta_store: MetaStore) -> None:
    """Completion moves receiving, failed or verifying (a dead attempt's) to verifying."""
    expected = [State.RECEIVING, State.FAILED, State.VERIFYING]
    for upload_id, state in (("s1", State.FAILED), ("s2", State.VERIFYING), ("s3", State.COMPLETE)):
        await meta_store.insert(make_upload(upload_id, state=state))
    assert await meta_store.transition("s1", expected, State.VERIFYING) is True
    assert await meta_store.transition("s2", expected, State.VERIFYING) is True
    assert await meta_store.transition("s3", expected, State.VERIFYING) is False
    states = [(await meta_store.get(i)) for i in ("s1", "s2", "s3")]
    assert [u.state if u else None for u in states] == [
        State.VERIFYING,
        State.VERIFYING,
        State.COMPLETE,
    ]


async def test_update_refuses_the_id_and_unknown_fields(meta_store: MetaStore) -> None:
    await meta_store.insert(make_upload("u1"))
    with pytest.raises(ValueError, match="id"):
        await meta_store.update("u1", id="u2")
    with pytest.raises(ValueError, match="colour"):
        await meta_store.update("u1", colour="red")
    assert await meta_store.get("u2") is None
    kept = await meta_store.get("u1")
    assert kept is not None and kept.file_name == "f.bin"


async def test_update_on_a_missing_record_reports_it(meta_store: MetaStore) -> None:
    assert await meta_store.update("missing", file_name="x.bin") is False
    assert await meta_store.get("missing") is None


async def test_update_keeps_segments_and_changes_times(meta_store: MetaStore) -> None:
    await meta_store.insert(make_upload("g1", segments=(Segment(0, 10, "s"),)))
    later = datetime.now(UTC) + timedelta(days=2)
    assert await meta_store.update("g1", expires_at=later, size=200, hash=None) is True
    loaded = await meta_store.get("g1")
    assert loaded is not None
    assert (loaded.expires_at, loaded.size, loaded.hash) == (later, 200, None)
    assert loaded.segments == (Segment(0, 10, "s"),)


async def test_ids_in_state_oldest_update_first(meta_store: MetaStore) -> None:
    base = datetime.now(UTC) - timedelta(hours=1)
    for i, minute in enumerate([30, 10, 20]):
        at = base + timedelta(minutes=minute)
        await meta_store.insert(make_upload(f"h{i}", state=State.VERIFYING, updated_at=at))
    await meta_store.insert(make_upload("h3", updated_at=base))  # receiving: not listed
    assert await meta_store.ids_in_state(State.VERIFYING) == ["h1", "h2", "h0"]
    assert await meta_store.ids_in_state(State.VERIFYING, limit=2) == ["h1", "h2"]
    assert await meta_store.ids_in_state(State.RECEIVING) == ["h3"]
    assert await meta_store.ids_in_state(State.FAILED) == []


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


async def test_two_instances_share_one_database(
    meta_store_pair: tuple[MetaStore, MetaStore],
) -> None:
    first, second = meta_store_pair
    await first.insert(make_upload("p1"))
    assert await second.put_segment("p1", Segment(0, 10, "from-second")) is True
    assert await second.transition("p1", [State.RECEIVING], State.VERIFYING) is True
    assert await first.transition("p1", [State.RECEIVING], State.VERIFYING) is False
    loaded = await first.get("p1")
    assert loaded is not None and loaded.segments == (Segment(0, 10, "from-second"),)
    await second.delete("p1")
    assert await first.get("p1") is None


async def test_a_write_is_seen_by_the_next_read_while_other_reads_run(
    meta_store: MetaStore,
) -> None:
    """Busy readers (other requests) must never pin an old snapshot: after put_segment
    returns, the next read sees the segment, however many reads overlap it."""
    await meta_store.insert(make_upload("s1", size=10_000))
    stop = asyncio.Event()

    async def reader() -> None:
        while not stop.is_set():
            await meta_store.get("s1")
            await meta_store.list_uploads(None, limit=5)
            # A read that SQLite answers on the loop's thread never yields, so without this the
            # readers would run only before or after the writes, never between them.
            await asyncio.sleep(0)

    readers = [asyncio.create_task(reader()) for _ in range(20)]
    try:
        for index in range(40):
            assert await meta_store.put_segment("s1", Segment(index * 10, index * 10 + 10, "d"))
            loaded = await meta_store.get("s1")
            assert loaded is not None and len(loaded.segments) == index + 1, index
    finally:
        stop.set()
        await asyncio.gather(*readers)
