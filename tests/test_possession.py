"""Challenges and proofs, the server's side, against an independent computation."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator

from upslice import possession


def test_challenges_depend_on_the_size_only_and_never_repeat() -> None:
    assert possession.new_challenge(0) is None
    small = possession.new_challenge(1000)
    assert small is not None and small.ranges == ((0, 1000),)
    whole = possession.new_challenge(possession.WHOLE_FILE_UP_TO)
    assert whole is not None and whole.ranges == ((0, possession.WHOLE_FILE_UP_TO),)
    size = 10 * 1024 * 1024
    seen = [possession.new_challenge(size) for _ in range(20)]
    assert all(c is not None and len(c.ranges) == 4 for c in seen)
    assert len({c.nonce for c in seen if c}) == 20 and len({c.ranges for c in seen if c}) == 20
    for challenge in seen:
        assert challenge is not None and len(challenge.nonce) == 32
        assert all(
            0 <= a < b <= size and b - a == possession.RANGE_SIZE for a, b in challenge.ranges
        )


async def test_the_proof_is_sha256_of_nonce_and_ranges_in_order() -> None:
    data = os.urandom(600_000)
    challenge = possession.new_challenge(len(data))
    assert challenge is not None

    async def read(start: int, end: int) -> AsyncIterator[bytes]:
        for offset in range(start, end, 10_000):
            yield data[offset : min(end, offset + 10_000)]

    parts = b"".join(data[a:b] for a, b in challenge.ranges)
    expected = hashlib.sha256(bytes.fromhex(challenge.nonce) + parts).hexdigest()
    assert await possession.proof_of(challenge, read) == expected
    assert possession.matches(expected, expected.upper())
    assert not possession.matches(expected, "0" * 64)
    assert not possession.matches(None, "0" * 64)  # nothing held: no proof is ever right
    stored = possession.stored(possession.replaced({"other": 1}, challenge))
    assert stored == challenge
    assert possession.replaced({"other": 1, "challenge": {}}, None) == {"other": 1}
