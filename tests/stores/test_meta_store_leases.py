"""Leases: short-lived, named ownership that any process or node sees, and that lapses by itself."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.waiting import eventually
from upslice.stores.base import MetaStore

TINY_TTL = 0.2  # seconds; the tests poll for its end rather than sleeping a fixed time
LONG_TTL = 60.0


async def test_acquire_a_free_lease_and_read_it(meta_store: MetaStore) -> None:
    before = datetime.now(UTC)
    assert await meta_store.acquire_lease("upload:l1", "node-a", LONG_TTL) is True
    lease = await meta_store.get_lease("upload:l1")
    assert lease is not None and (lease.name, lease.holder) == ("upload:l1", "node-a")
    # The store's clock is on this machine in the tests: allow for a loaded CI, nothing more.
    slack = timedelta(seconds=5)
    assert before + timedelta(seconds=LONG_TTL) - slack < lease.expires_at
    assert lease.expires_at < before + timedelta(seconds=LONG_TTL) + slack
    assert await meta_store.get_lease("upload:other") is None


async def test_a_second_holder_is_refused_while_the_lease_lives(meta_store: MetaStore) -> None:
    assert await meta_store.acquire_lease("upload:l2", "node-a", LONG_TTL)
    assert await meta_store.acquire_lease("upload:l2", "node-b", LONG_TTL) is False
    lease = await meta_store.get_lease("upload:l2")
    assert lease is not None and lease.holder == "node-a"


async def test_the_holder_renews_its_lease(meta_store: MetaStore) -> None:
    assert await meta_store.acquire_lease("upload:l3", "node-a", 30.0)
    first = await meta_store.get_lease("upload:l3")
    assert await meta_store.acquire_lease("upload:l3", "node-a", LONG_TTL) is True
    renewed = await meta_store.get_lease("upload:l3")
    assert first is not None and renewed is not None
    assert renewed.holder == "node-a" and renewed.expires_at > first.expires_at


async def test_an_expired_lease_goes_to_the_next_holder(meta_store: MetaStore) -> None:
    assert await meta_store.acquire_lease("upload:l4", "node-a", TINY_TTL)
    assert await meta_store.acquire_lease("upload:l4", "node-b", LONG_TTL) is False

    async def taken_by_b() -> bool:
        return await meta_store.acquire_lease("upload:l4", "node-b", LONG_TTL)

    await eventually(taken_by_b)
    lease = await meta_store.get_lease("upload:l4")
    assert lease is not None and lease.holder == "node-b"
    assert await meta_store.acquire_lease("upload:l4", "node-a", LONG_TTL) is False


async def test_get_lease_forgets_an_expired_lease(meta_store: MetaStore) -> None:
    assert await meta_store.acquire_lease("upload:l5", "node-a", TINY_TTL)
    assert await meta_store.get_lease("upload:l5") is not None

    async def gone() -> bool:
        return await meta_store.get_lease("upload:l5") is None

    await eventually(gone)


async def test_replacing_takes_over_from_the_named_holder_only(meta_store: MetaStore) -> None:
    assert await meta_store.acquire_lease("upload:l6", "node-a", LONG_TTL)
    taken = await meta_store.acquire_lease("upload:l6", "node-b", LONG_TTL, replacing="node-c")
    assert taken is False
    taken = await meta_store.acquire_lease("upload:l6", "node-b", LONG_TTL, replacing="node-a")
    assert taken is True
    lease = await meta_store.get_lease("upload:l6")
    assert lease is not None and lease.holder == "node-b"
    # node-a is no longer the holder: a stale takeover naming it again must not win.
    assert (
        await meta_store.acquire_lease("upload:l6", "node-c", LONG_TTL, replacing="node-a") is False
    )
    # replacing= on a free lease is a plain acquisition.
    assert await meta_store.acquire_lease("upload:l7", "node-b", LONG_TTL, replacing="node-z")


async def test_only_the_holder_releases(meta_store: MetaStore) -> None:
    assert await meta_store.acquire_lease("upload:l8", "node-a", LONG_TTL)
    await meta_store.release_lease("upload:l8", "node-b")
    lease = await meta_store.get_lease("upload:l8")
    assert lease is not None and lease.holder == "node-a"
    assert await meta_store.acquire_lease("upload:l8", "node-b", LONG_TTL) is False
    await meta_store.release_lease("upload:l8", "node-a")
    assert await meta_store.get_lease("upload:l8") is None
    assert await meta_store.acquire_lease("upload:l8", "node-b", LONG_TTL) is True
    await meta_store.release_lease("upload:never-held", "node-a")  # not an error


async def test_live_leases_by_prefix(meta_store: MetaStore) -> None:
    assert await meta_store.acquire_lease("append:u1", "node-a", LONG_TTL)
    assert await meta_store.acquire_lease("append:u2", "node-b", LONG_TTL)
    assert await meta_store.acquire_lease("append:u3", "node-b", TINY_TTL)
    assert await meta_store.acquire_lease("appendix", "node-a", LONG_TTL)
    assert await meta_store.acquire_lease("sweeper", "node-a", LONG_TTL)
    # LIKE wildcards in a prefix are literal: "append_" must not match "appendix".
    assert await meta_store.acquire_lease("append_x", "node-a", LONG_TTL)
    assert await meta_store.acquire_lease("append%y", "node-a", LONG_TTL)

    async def only_the_live_ones() -> bool:
        names = sorted(lease.name for lease in await meta_store.live_leases("append:"))
        return names == ["append:u1", "append:u2"]

    await eventually(only_the_live_ones)
    leases = {lease.name: lease.holder for lease in await meta_store.live_leases("append:")}
    assert leases == {"append:u1": "node-a", "append:u2": "node-b"}
    assert [lease.name for lease in await meta_store.live_leases("append_")] == ["append_x"]
    assert [lease.name for lease in await meta_store.live_leases("append%")] == ["append%y"]
    assert len(await meta_store.live_leases("")) == 6
    await meta_store.release_lease("append:u1", "node-a")
    assert [lease.name for lease in await meta_store.live_leases("append:")] == ["append:u2"]


async def test_leases_are_independent_of_uploads(meta_store: MetaStore) -> None:
    assert await meta_store.acquire_lease("node:n1", "node-a", LONG_TTL)
    await meta_store.delete("n1")  # no such upload; a lease is not a record
    lease = await meta_store.get_lease("node:n1")
    assert lease is not None and lease.holder == "node-a"


async def test_two_nodes_racing_for_a_lease_exactly_one_wins(
    meta_store_pair: tuple[MetaStore, MetaStore],
) -> None:
    first, second = meta_store_pair
    for round_ in range(5):
        name = f"complete:race{round_}"
        won = await asyncio.gather(
            *(
                store.acquire_lease(name, f"node-{i}", LONG_TTL)
                for i, store in enumerate([first, second] * 4)
            )
        )
        assert sum(won) == 1, won
        winner = won.index(True)
        lease = await second.get_lease(name)
        assert lease is not None and lease.holder == f"node-{winner}"


async def test_two_nodes_racing_for_an_expired_lease_exactly_one_wins(
    meta_store_pair: tuple[MetaStore, MetaStore],
) -> None:
    first, second = meta_store_pair
    assert await first.acquire_lease("sweeper", "dead-node", TINY_TTL)

    async def expired() -> bool:
        return await second.get_lease("sweeper") is None

    await eventually(expired)
    won = await asyncio.gather(
        *(
            store.acquire_lease("sweeper", f"node-{i}", LONG_TTL)
            for i, store in enumerate([first, second] * 4)
        )
    )
    assert sum(won) == 1, won


async def test_purge_forgets_only_expired_leases(meta_store: MetaStore) -> None:
    assert await meta_store.acquire_lease("chunk:p1:0", "node-a", TINY_TTL)
    assert await meta_store.acquire_lease("chunk:p1:1", "node-a", LONG_TTL)

    async def purged_one() -> bool:
        return await meta_store.purge_leases() == 1

    await eventually(purged_one)
    assert await meta_store.purge_leases() == 0
    assert [lease.name for lease in await meta_store.live_leases("chunk:p1:")] == ["chunk:p1:1"]
