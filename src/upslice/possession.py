"""Proof of possession: instant upload across owners only for a client that holds the bytes.

Knowing a file's hash must never be enough to get the file. So every unfinished task carries a
challenge: a nonce and a few byte ranges picked at random from the file's *size* alone (never
from whether the server holds such a file, so a challenge reveals nothing). The client proves
possession with `sha256(nonce + file[r0] + file[r1] + ...)`; the server computes the same over
a finished upload with that content identity and compares in constant time. A challenge is kept
in the record (not in process memory) so that any worker or node can check it, and each attempt
replaces it, so a proof is good once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

Reader = Callable[[int, int], AsyncIterator[bytes]]

ALGORITHM = "sha256"
RANGE_COUNT = 4
RANGE_SIZE = 64 * 1024
WHOLE_FILE_UP_TO = RANGE_COUNT * RANGE_SIZE  # small files: the whole file is one range
EXTRA_KEY = "challenge"
PROOF_LENGTH = 64  # hex characters of a sha256 digest


@dataclass(frozen=True)
class Challenge:
    nonce: str  # 32 hex characters
    ranges: tuple[tuple[int, int], ...]  # [start, end) byte ranges, in proof order
    algorithm: str = ALGORITHM

    def to_json(self) -> dict[str, Any]:
        return {
            "nonce": self.nonce,
            "ranges": [[start, end] for start, end in self.ranges],
            "algorithm": self.algorithm,
        }

    @classmethod
    def from_json(cls, data: Any) -> Challenge | None:
        """The challenge stored in a record's `extra`, or None when there is none."""
        if not isinstance(data, dict) or "nonce" not in data:
            return None
        spans = tuple((int(start), int(end)) for start, end in data["ranges"])
        return cls(str(data["nonce"]), spans, str(data.get("algorithm", ALGORITHM)))

    @property
    def length(self) -> int:
        return sum(end - start for start, end in self.ranges)


def new_challenge(size: int) -> Challenge | None:
    """Fresh random ranges for a file of `size` bytes (none for an empty file)."""
    if size <= 0:
        return None
    if size <= WHOLE_FILE_UP_TO:
        spans: list[tuple[int, int]] = [(0, size)]
    else:
        starts = (secrets.randbelow(size - RANGE_SIZE + 1) for _ in range(RANGE_COUNT))
        spans = [(start, start + RANGE_SIZE) for start in starts]
    return Challenge(secrets.token_hex(16), tuple(spans))


def stored(extra: dict[str, Any]) -> Challenge | None:
    return Challenge.from_json(extra.get(EXTRA_KEY))


def replaced(extra: dict[str, Any], challenge: Challenge | None) -> dict[str, Any]:
    """`extra` with `challenge` in place of the one it held (or without one)."""
    kept = {key: value for key, value in extra.items() if key != EXTRA_KEY}
    return kept if challenge is None else {**kept, EXTRA_KEY: challenge.to_json()}


async def proof_of(challenge: Challenge, read: Reader) -> str:
    """The proof for `challenge` over the bytes `read(start, end)` yields."""
    hasher = hashlib.sha256(bytes.fromhex(challenge.nonce))
    for start, end in challenge.ranges:
        async for block in read(start, end):
            hasher.update(block)
    return hasher.hexdigest()


def matches(expected: str | None, given: str) -> bool:
    """Constant-time comparison of two hex proofs; never true without a file to prove."""
    reference = (expected or "0" * PROOF_LENGTH).lower().encode()
    return hmac.compare_digest(reference, given.lower().encode()) and expected is not None
