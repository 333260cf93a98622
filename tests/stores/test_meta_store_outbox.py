"""The hook outbox: what every MetaStore backend must do with non-blocking events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.stores.conftest import make_upload
from upslice.record import OutboxEvent
from upslice.stores.base import MetaStore


def event(event_id: str, upload_id: str = "u1", name: str = "post-create") -> OutboxEvent:
    return OutboxEvent(
        id=event_id, upload_id=upload_id, name=name, payload=f'{{"id":"{event_id}"}}'
    )


async def test_events_come_back_in_the_order_they_were_appended(meta_store: MetaStore) -> None:
    await meta_store.append_events([event("e1"), event("e2", "u2")])
    await meta_store.append_events([event("e3", name="post-finish")])
    pending = await meta_store.pending_events()
    assert [e.id for e in pending] == ["e1", "e2", "e3"]
    assert [e.upload_id for e in pending] == ["u1", "u2", "u1"]
    assert pending[2].name == "post-finish" and pending[2].payload == '{"id":"e3"}'
    assert pending[0].seq < pending[1].seq < pending[2].seq
    assert pending[0].attempts == 0 and pending[0].next_attempt_at is None
    assert [e.id for e in await meta_store.pending_events(limit=2)] == ["e1", "e2"]


async def test_a_delivered_event_is_gone_and_a_failed_one_waits(meta_store: MetaStore) -> None:
    await meta_store.append_events([event("d1"), event("d2")])
    await meta_store.event_delivered("d1")
    await meta_store.event_delivered("never-stored")  # not an error
    later = datetime.now(UTC) + timedelta(seconds=30)
    await meta_store.event_failed("d2", later, "connection refused")
    await meta_store.event_failed("d2", later, "HTTP 500")
    (waiting,) = await meta_store.pending_events()
    assert waiting.id == "d2" and waiting.attempts == 2
    assert waiting.last_error == "HTTP 500"
    assert waiting.next_attempt_at is not None
    assert abs((waiting.next_attempt_at - later).total_seconds()) < 0.01


async def test_events_outlive_their_upload_and_other_processes_see_them(
    meta_store_pair: tuple[MetaStore, MetaStore],
) -> None:
    first, second = meta_store_pair
    await first.append_events([event("p1", "gone"), event("p2", "gone", "post-terminate")])
    assert [e.id for e in await second.pending_events()] == ["p1", "p2"]
    await second.event_delivered("p1")
    assert [e.id for e in await first.pending_events()] == ["p2"]


async def test_events_are_stored_with_the_record_they_describe(meta_store: MetaStore) -> None:
    await meta_store.insert(make_upload("t1"), [event("created", "t1")])
    assert [e.id for e in await meta_store.pending_events()] == ["created"]
    await meta_store.delete("t1", [event("deleted", "t1", "post-terminate")])
    assert await meta_store.get("t1") is None
    assert [e.id for e in await meta_store.pending_events()] == ["created", "deleted"]


async def test_an_event_appended_again_is_kept_once(meta_store: MetaStore) -> None:
    await meta_store.append_events([event("once", "r1", "post-finish")])
    await meta_store.append_events([event("once", "r1", "post-finish"), event("next", "r1")])
    assert [e.id for e in await meta_store.pending_events()] == ["once", "next"]
