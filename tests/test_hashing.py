from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import threading
import zlib
from collections.abc import AsyncIterator

import google_crc32c
import pytest
from hypothesis import given
from hypothesis import strategies as st

from upslice import hashing
from upslice.errors import ChecksumMismatch, ClientGone, InvalidInput, WrongChunk
from upslice.hashing import (
    TASK_CHECKSUMS,
    Checksum,
    Crc32,
    Crc32c,
    DigestingStream,
    normalize_file_hash,
    segment_hasher,
)

MiB = 1024 * 1024


async def pieces(*parts: bytes, cut: bool = False) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    if cut:
        raise ClientGone("gone")


async def drain(stream: DigestingStream) -> bytes:
    return b"".join([block async for block in stream.blocks()])


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_crc32_matches_zlib_over_any_split(parts: list[bytes]) -> None:
    crc = Crc32()
    for part in parts:
        crc.update(part)
    assert crc.hexdigest() == f"crc32:{zlib.crc32(b''.join(parts)):08x}"


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_crc32c_is_the_same_over_any_split(parts: list[bytes]) -> None:
    crc = Crc32c()
    for part in parts:
        crc.update(part)
    whole = Crc32c()
    whole.update(b"".join(parts))
    assert crc.hexdigest() == whole.hexdigest()


def test_crc32c_is_castagnoli_and_old_segments_keep_their_crc32() -> None:
    crc = Crc32c()
    crc.update(b"123456789")
    assert crc.hexdigest() == "crc32c:e3069283"  # the standard check value (RFC 3720)
    assert isinstance(segment_hasher("crc32:cbf43926"), Crc32)
    assert isinstance(segment_hasher("crc32c:e3069283"), Crc32c)


async def test_segment_digest_is_the_crc32c_of_the_body() -> None:
    stream = DigestingStream(pieces(b"1234", b"56789"), expected_length=9)
    assert await drain(stream) == b"123456789"
    assert stream.digest == "crc32c:e3069283"


def test_checksum_headers_parse_or_say_why() -> None:
    digest = hashlib.sha1(b"x").digest()
    parsed = Checksum.parse_upload_checksum("SHA1 " + base64.b64encode(digest).decode())
    assert parsed == Checksum("sha1", digest)
    with pytest.raises(InvalidInput, match="unsupported checksum algorithm"):
        Checksum.parse_upload_checksum("crc32 AAAAAA==")  # tus: not advertised, so refused
    crc = zlib.crc32(b"x").to_bytes(4, "big")
    tasks = Checksum.parse_upload_checksum(
        "crc32 " + base64.b64encode(crc).decode(), TASK_CHECKSUMS
    )
    assert tasks == Checksum("crc32", crc)
    with pytest.raises(InvalidInput, match="base64"):
        Checksum.parse_content_md5("not base64!")
    with pytest.raises(InvalidInput, match="16 bytes"):
        Checksum.parse_content_md5(base64.b64encode(b"short").decode())


def test_file_hash_normalisation() -> None:
    assert normalize_file_hash("md5", " " + "AB" * 16 + " ") == "ab" * 16
    with pytest.raises(InvalidInput):
        normalize_file_hash("sha256", "ab" * 16)
    with pytest.raises(InvalidInput):
        normalize_file_hash("sha1", "ab" * 20)


async def test_stream_reblocks_and_hands_every_block_to_the_tap() -> None:
    """A short body's blocks reach the tap (the whole-file hash, on a thread) as the pieces
    received: the hashing thread gathers them into memory of its own (`update_gathered`)."""
    tapped: list[list[bytes]] = []

    async def tap(block: list[bytes]) -> None:
        tapped.append(block)

    body = [b"a" * 700_000, b"b" * 700_000, b"c" * 5]
    stream = DigestingStream(pieces(*body), expected_length=1_400_005, tap=tap)
    assert await drain(stream) == b"".join(body) == b"".join(b"".join(t) for t in tapped)
    assert stream.complete and stream.received == 1_400_005
    assert [[len(piece) for piece in t] for t in tapped] == [[700_000, 700_000], [5]]


async def test_a_long_body_hashed_on_a_thread_is_joined_block_by_block() -> None:
    """From JOIN_FROM bytes on, a hashed body's blocks are joined on the loop: one after
    another they reuse the memory just freed, which costs less than gathering them."""
    tapped: list[list[bytes]] = []

    async def tap(block: list[bytes]) -> None:
        tapped.append(block)

    half = hashing.BLOCK // 2
    body = [os.urandom(half) for _ in range(2 * hashing.JOIN_FROM // half)]
    stream = DigestingStream(pieces(*body), expected_length=2 * hashing.JOIN_FROM, tap=tap)
    assert await drain(stream) == b"".join(body)
    assert all(len(block) == 1 and len(block[0]) == hashing.BLOCK for block in tapped)
    assert len(tapped) == 2 * hashing.JOIN_FROM // hashing.BLOCK
    unhashed = DigestingStream(pieces(*body), expected_length=2 * hashing.JOIN_FROM)
    assert all(len(block) == 2 for block in await blocks_of(unhashed))  # written as received


@pytest.mark.parametrize(
    "sizes",
    [
        [5],
        [hashing.BLOCK],
        [64 * 1024] * 40,  # fills the buffer more than once
        [3, hashing.BLOCK // 2, 7, 300_000, hashing.GATHER_SIZE + 1, 1, 2],
        [hashing.GATHER_SIZE - 1, 2, hashing.BLOCK // 2 - 1, hashing.BLOCK // 2 - 1],
    ],
)
def test_gathered_pieces_hash_as_their_concatenation(sizes: list[int]) -> None:
    parts = [os.urandom(size) for size in sizes]
    calls: list[int] = []
    hasher = hashlib.md5()

    def update(data: bytes) -> None:
        calls.append(len(data))
        hasher.update(data)

    hashing.update_gathered(update, parts)
    hashing.update_gathered(update, parts)  # the thread's buffer is reused: still right
    assert hasher.hexdigest() == hashlib.md5(b"".join(parts) * 2).hexdigest()
    small = [size for size in sizes if size < hashing.BLOCK // 2]
    large = len(sizes) - len(small)  # each hashed as it is, after what was gathered before it
    assert len(calls) <= 2 * (2 * large + 1 + sum(small) // hashing.GATHER_SIZE)


def test_many_small_pieces_are_hashed_in_few_calls() -> None:
    """Each call releases the GIL and must take it back from the loop: 16 pieces of a MiB
    are one call, not 16."""
    calls: list[int] = []
    hashing.update_gathered(lambda data: calls.append(len(data)), [b"x" * 65536] * 16)
    assert calls == [hashing.BLOCK]


async def blocks_of(stream: DigestingStream) -> list[list[bytes]]:
    return [block async for block in stream.blocks().pieces()]


async def test_unhashed_blocks_keep_their_pieces_unless_they_trickled_in() -> None:
    """A block of more pieces than MAX_PIECES would cost more written one by one."""
    few = [os.urandom(300_000) for _ in range(4)]
    [block] = await blocks_of(DigestingStream(pieces(*few), expected_length=1_200_000))
    assert len(block) == 4 <= hashing.MAX_PIECES
    assert all(kept is sent for kept, sent in zip(block, few, strict=True))  # not copied
    many = [bytes([n % 256]) * 4096 for n in range(300)]  # 1.17 MiB in 300 pieces
    blocks = await blocks_of(DigestingStream(pieces(*many), expected_length=300 * 4096))
    assert [len(block) for block in blocks] == [1, 1]
    assert b"".join(block[0] for block in blocks) == b"".join(many)


async def test_a_block_checked_against_an_md5_is_joined_in_a_long_body_only() -> None:
    body = [os.urandom(300_000) for _ in range(4)]
    whole = b"".join(body)
    md5 = Checksum("md5", hashlib.md5(whole).digest())
    [kept] = await blocks_of(
        DigestingStream(pieces(*body), expected_length=len(whole), checksum=md5)
    )
    assert kept == body  # checked all the same (a wrong one is refused: below)
    crc = Checksum("crc32c", google_crc32c.value(whole).to_bytes(4, "big"))
    [kept] = await blocks_of(
        DigestingStream(pieces(*body), expected_length=len(whole), checksum=crc)
    )
    assert kept == body
    long_body = body * (hashing.JOIN_FROM // len(whole) + 1)
    whole = b"".join(long_body)
    md5 = Checksum("md5", hashlib.md5(whole).digest())
    blocks = await blocks_of(
        DigestingStream(pieces(*long_body), expected_length=len(whole), checksum=md5)
    )
    assert all(len(block) == 1 for block in blocks) and b"".join(b[0] for b in blocks) == whole


async def test_stream_refuses_wrong_lengths_and_checksums() -> None:
    with pytest.raises(WrongChunk, match="expected 10"):
        await drain(DigestingStream(pieces(b"x" * 9), expected_length=10))
    with pytest.raises(WrongChunk, match="longer"):
        await drain(DigestingStream(pieces(b"x" * 11), expected_length=10))
    bad = Checksum("md5", hashlib.md5(b"y").digest())
    with pytest.raises(ChecksumMismatch):
        await drain(DigestingStream(pieces(b"x"), expected_length=1, checksum=bad))


async def test_cut_body_counts_only_when_partial_is_allowed() -> None:
    with pytest.raises(ClientGone):
        await drain(DigestingStream(pieces(b"abc", cut=True), expected_length=10))
    kept = DigestingStream(pieces(b"abc", cut=True), expected_length=None, keep_partial=True)
    assert await drain(kept) == b"abc" and not kept.complete
    checked = Checksum("md5", hashlib.md5(b"abc").digest())
    strict = DigestingStream(
        pieces(b"abc", cut=True), expected_length=None, keep_partial=True, checksum=checked
    )
    with pytest.raises(ClientGone):  # a checksummed body counts only whole
        await drain(strict)


@pytest.mark.parametrize(
    ("expected", "declared", "cut"),
    [
        (None, None, False),
        (None, None, True),
        (5 * MiB // 2, None, False),
        (None, 5 * MiB // 2, False),
    ],
)
async def test_blocks_tell_when_the_body_has_ended(
    expected: int | None, declared: int | None, cut: bool
) -> None:
    """Known lengths say so on the last block itself; otherwise the source's end does."""
    parts = [b"a" * MiB, b"b" * MiB, b"c" * (MiB // 2)]
    stream = DigestingStream(
        pieces(*parts, cut=cut),
        expected_length=expected,
        declared_length=declared,
        keep_partial=cut,
    )
    blocks = stream.blocks()
    seen = [(len(block), blocks.body_ended) async for block in blocks]
    assert seen == [(MiB, False), (MiB, False), (MiB // 2, True)]


@pytest.mark.parametrize("known", ["expected_length", "declared_length"])
async def test_a_known_length_reached_by_a_full_block_ends_the_body_there(known: str) -> None:
    """The source has not said it ended yet when its last full block is yielded."""
    lengths: dict[str, int | None] = {"expected_length": None, known: 2 * MiB}
    stream = DigestingStream(pieces(b"x" * MiB, b"y" * MiB), **lengths)  # type: ignore[arg-type]
    blocks = stream.blocks()
    assert [blocks.body_ended async for _ in blocks] == [False, True]


async def test_md5_of_a_body_runs_on_the_small_hashing_pool() -> None:
    """One thread per core hashes: a burst of uploads must not start a thread each."""
    names: set[str] = set()

    class Recording:
        def __init__(self) -> None:
            self.inner = hashlib.md5()

        def update(self, data: bytes, /) -> None:
            names.add(threading.current_thread().name)
            self.inner.update(data)

    recorders = [Recording() for _ in range(20)]
    await asyncio.gather(
        *(hashing.hash_off_loop(r.update, [os.urandom(64 * 1024)] * 4) for r in recorders)
    )
    assert names and all(name.startswith("upslice-hash") for name in names)
    assert len(names) <= hashing.HASH_THREADS._max_workers
