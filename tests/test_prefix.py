from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator

from upslice import prefix as prefix_module
from upslice.prefix import PrefixHash

DATA = random.Random(3).randbytes(300_000)


async def read(start: int, end: int) -> AsyncIterator[bytes]:
    for offset in range(start, end, 50_000):
        yield DATA[offset : min(end, offset + 50_000)]


async def test_fed_blocks_and_read_back_make_one_hash() -> None:
    running = PrefixHash("md5")
    assert running.claim(0)
    await running.feed(DATA[:100_000])
    running.release(accepted=True)
    assert not running.claim(50_000)  # only a body at the prefix's end may feed it
    running.catch_up(250_000, read)  # chunks that arrived early, read back
    assert running.claim(250_000)
    await running.feed(DATA[250_000:])
    running.release(accepted=True)
    assert await running.digest(len(DATA), read) == hashlib.md5(DATA).hexdigest()


async def test_one_feeder_at_a_time_and_none_during_a_claim() -> None:
    running = PrefixHash("sha256")
    assert running.claim(0)
    assert not running.claim(0)
    running.catch_up(100, read)  # ignored while a body feeds
    assert running.queued == 0
    running.release(accepted=True)
    assert await running.digest(1000, read) == hashlib.sha256(DATA[:1000]).hexdigest()


async def test_a_refused_body_breaks_the_hash() -> None:
    running = PrefixHash("md5")
    assert running.claim(0)
    await running.feed(b"bytes that will not count")
    running.release(accepted=False)
    assert running.broken and not running.claim(0)
    assert await running.digest(10, read) is None


async def test_a_failing_read_breaks_the_hash() -> None:
    async def broken_read(start: int, end: int) -> AsyncIterator[bytes]:
        yield DATA[start : start + 10]
        raise OSError("disk gone")

    running = PrefixHash("md5")
    assert await running.digest(100, broken_read) is None
    assert running.broken


async def test_feeding_waits_when_far_ahead_of_the_hash() -> None:
    prefix_module.MAX_PENDING = 100_000
    try:
        running = PrefixHash("md5")
        assert running.claim(0)
        waiting = []
        for offset in range(0, len(DATA), 30_000):
            await running.feed(DATA[offset : offset + 30_000])
            waiting.append(running.queued - running.hashed)
        running.release(accepted=True)
        assert max(waiting) <= 100_000 + 30_000  # never more than the bound plus one block
        assert await running.digest(len(DATA), read) == hashlib.md5(DATA).hexdigest()
    finally:
        prefix_module.MAX_PENDING = 16 * 1024 * 1024


async def test_acknowledgements_wait_while_the_hash_trails_too_far() -> None:
    prefix_module.MAX_LAG = 100_000
    try:
        running = PrefixHash("md5")
        running.catch_up(len(DATA), read)
        await running.keep_up(len(DATA))
        assert running.hashed >= len(DATA) - 100_000
        assert await running.digest(len(DATA), read) == hashlib.md5(DATA).hexdigest()
    finally:
        prefix_module.MAX_LAG = 64 * 1024 * 1024
